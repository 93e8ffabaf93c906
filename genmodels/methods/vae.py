"""Variational autoencoder (Kingma & Welling 2014) with a choice of pixel likelihood.

Negative ELBO per image, the loss (beta = 1 gives the VAE, beta > 1 the beta-VAE):
  L(x) = -E_q(z|x)[ln p(x|z)] + beta * KL(q(z|x) || N(0, I))
Bits/dim on the 256-level convention (REFERENCES.md): for the discretised logistic, p(x|z) is
a probability over the 256 levels and bpd = -ELBO / (D ln 2); for the Gaussians, p is a density
on uniformly dequantised data y = (x + u) / 256 in [0, 1), modelled in [-1, 1] (log-det D ln 2
counted), and bpd = (-ELBO_y + D ln 256) / (D ln 2). The Bernoulli decoder (targets x / 255) is
not a density on 8-bit data, so it reports elbo/kl/recon but no bpd.
"""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genmodels import distributions as dist
from genmodels import models
from genmodels.nn import check_upsample_kind
from genmodels.data import dequantize, to_signed, to_uint8
from genmodels.methods.base import Method, Player
from genmodels.train.optim import make_optimizer

# Likelihood -> number of decoder outputs per sub-pixel.
LIKELIHOODS = {"discretized_logistic": 2, "gaussian_fixed": 1, "gaussian_learned": 2,
               "bernoulli": 1}


class VAE(nn.Module):
    image_shape: tuple[int, int, int]
    latent_dim: int
    encoder_features: tuple[int, ...]
    decoder_features: tuple[int, ...]
    dense: int
    outputs_per_channel: int
    upsample: str = "subpixel"

    def setup(self):
        self.encoder = models.ConvEncoder(self.latent_dim, tuple(self.encoder_features), self.dense)
        self.decoder = models.ConvDecoder(self.image_shape,
                                          self.image_shape[-1] * self.outputs_per_channel,
                                          tuple(self.decoder_features), self.dense, self.upsample)

    def encode(self, x_signed, train: bool = False):
        return self.encoder(x_signed, train)

    def decode(self, z, train: bool = False):
        """Likelihood parameters [B, H, W, C, outputs_per_channel]."""
        out = self.decoder(z, train)
        return out.reshape(out.shape[:-1] + (self.image_shape[-1], self.outputs_per_channel))

    def __call__(self, x_signed, z, train: bool = False):
        return self.encode(x_signed, train), self.decode(z, train)


def log_likelihood(likelihood: str, fixed_log_scale: float, x_uint8, rng, out):
    """ln p(x | z) summed per image, on the 256-level convention, and whether it is a valid bpd.

    Returns (log_p [B], bits_offset): bpd = (-elbo + bits_offset) / (D ln 2)."""
    d = math.prod(x_uint8.shape[1:])
    axes = tuple(range(1, x_uint8.ndim))
    if likelihood == "discretized_logistic":
        return jnp.sum(dist.discretized_logistic_log_prob(x_uint8, out[..., 0], out[..., 1]),
                       axes), 0.0
    if likelihood == "bernoulli":
        target = x_uint8.astype(jnp.float32) / 255.0
        return jnp.sum(dist.bernoulli_log_prob(target, out[..., 0]), axes), None
    y = 2.0 * dequantize(rng, x_uint8) - 1.0  # Dequantised, in [-1, 1).
    log_scale = (out[..., 1] if likelihood == "gaussian_learned"
                 else jnp.full_like(out[..., 0], fixed_log_scale))
    log_p = jnp.sum(dist.diag_gaussian_log_prob(y, out[..., 0], log_scale), axes) + d * math.log(2)
    return log_p, d * math.log(256)


def decoder_mean_uint8(likelihood: str, out):
    """The decoder's mean image as uint8 (what sample grids and reconstructions show)."""
    if likelihood == "bernoulli":
        return to_uint8(2.0 * jax.nn.sigmoid(out[..., 0]) - 1.0)
    return to_uint8(out[..., 0])


def build(config, info) -> Method:
    if info.kind != "image":
        raise ValueError(f"The vae method needs an image dataset; data.name={info.name!r} is "
                         f"{info.kind}.")
    m = config.model
    if m.likelihood not in LIKELIHOODS:
        raise ValueError(f"Unknown likelihood {m.likelihood!r} (model.likelihood); valid: "
                         f"{', '.join(LIKELIHOODS)}.")
    check_upsample_kind(m.upsample)
    models.check_divisible(info.shape, len(m.encoder_features), "model.encoder_features")
    models.check_divisible(info.shape, len(m.decoder_features), "model.decoder_features")
    vae = VAE(tuple(info.shape), m.latent_dim, tuple(m.encoder_features),
              tuple(m.decoder_features), m.dense, LIKELIHOODS[m.likelihood], m.upsample)
    fixed_log_scale = math.log(m.gaussian_scale)
    likelihood = functools.partial(log_likelihood, m.likelihood, fixed_log_scale)
    d = math.prod(info.shape)

    def terms(variables, x_uint8, rng):
        """Per-example elbo, kl, recon (nats) and bpd."""
        z_rng, deq_rng = jax.random.split(rng)
        mean, log_scale = vae.apply(variables, to_signed(x_uint8), method=VAE.encode)
        z = dist.diag_gaussian_sample(z_rng, mean, log_scale)
        out = vae.apply(variables, z, method=VAE.decode)
        log_p, bits_offset = likelihood(x_uint8, deq_rng, out)
        kl = jnp.sum(dist.kl_diag_gaussian_standard(mean, log_scale), axis=-1)
        result = {"elbo": log_p - kl, "kl": kl, "recon": -log_p}
        if bits_offset is not None:
            result["bpd"] = (kl - log_p + bits_offset) / (d * math.log(2))
        return result

    def loss_fn(params, collections, batch, rng):
        t = terms({"params": params["vae"]}, batch["image"], rng)
        loss = jnp.mean(t["recon"] + m.beta * t["kl"])
        return loss, ({k: jnp.mean(v) for k, v in t.items()}, {})

    def init(rng, batch):
        x = to_signed(batch["image"][:1])
        return {"vae": vae.init(rng, x, jnp.zeros((1, m.latent_dim)))}

    def decode(variables, z):
        return decoder_mean_uint8(m.likelihood, vae.apply(variables["vae"], z, method=VAE.decode))

    def encode(variables, x_uint8):
        return vae.apply(variables["vae"], to_signed(x_uint8), method=VAE.encode)[0]

    def sample(variables, rng, n):
        return decode(variables, jax.random.normal(rng, (n, m.latent_dim)))

    def reconstruct(variables, x_uint8, rng=None):
        return decode(variables, encode(variables, x_uint8))

    def eval_fn(variables, batch, rng):
        return terms(variables["vae"], batch["image"], rng)

    def bpd(variables, x_uint8, rng):
        return terms(variables["vae"], x_uint8, rng)["bpd"]

    has_bpd = m.likelihood != "bernoulli"
    return Method(
        name="vae",
        players=(Player("vae", loss_fn, make_optimizer(config.optim, "optim")),),
        schedule=(("vae", 1),),
        init=init, sample=sample, eval_fn=eval_fn, encode=encode, decode=decode,
        reconstruct=reconstruct, bpd=bpd if has_bpd else None, latent_dim=m.latent_dim,
        metrics=("bpd",) if has_bpd else ())
