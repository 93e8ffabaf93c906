"""Variational autoencoder (Kingma & Welling 2014) with a choice of pixel likelihood.

Negative ELBO per image, the loss (beta = 1 gives the VAE, beta > 1 the beta-VAE):
  L(x) = -E_q(z|x)[ln p(x|z)] + beta * KL(q(z|x) || N(0, I))
Bits/dim on the 256-level convention (REFERENCES.md): for the discretised logistic, p(x|z) is
a probability over the 256 levels and bpd = -ELBO / (D ln 2); for the Gaussians, p is a density
on uniformly dequantised data y = (x + u) / 256 in [0, 1), modelled in [-1, 1] (log-det D ln 2
counted), and bpd = (-ELBO_y + D ln 256) / (D ln 2). The Bernoulli decoder (targets x / 255) is
not a density on 8-bit data, so it reports elbo/kl/recon but no bpd.

Evaluation bpd is the importance-weighted bound (Burda et al. 2016) with k = eval.iwae_k:
  ln p(x) >= L_k = E[ln (1/k) sum_j w_j],  ln w_j = ln p(x|z_j) + ln p(z_j) - ln q(z_j|x),
z_j ~ q(z|x) i.i.d.; L_1 is the (single-sample) ELBO and L_k grows with k towards ln p(x). The
k samples share one dequantisation of x (the bound is then on ln p(y) of that y, whose average
over u is what the 256-level bpd needs) and are decoded eval.iwae_chunk at a time (lax.map), so
memory does not grow with k. Training still minimises the ELBO with the analytic KL.
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
from genmodels.methods.optim import make_optimizer
from genmodels.metrics.names import DISENTANGLEMENT_METRICS, RECONSTRUCTION_METRICS

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


def bits_offset(likelihood: str, d: int):
    """bpd = (-ln p + offset) / (D ln 2): 0 for the discretised logistic (a pmf over the 256
    levels), D ln 256 for the Gaussians (densities of y in [0, 1)^D), None for the Bernoulli."""
    return {"discretized_logistic": 0.0, "bernoulli": None}.get(likelihood, d * math.log(256))


def log_likelihood(likelihood: str, fixed_log_scale: float, x_uint8, rng, out):
    """ln p(x | z) summed per image, on the 256-level convention, and whether it is a valid bpd.

    Returns (log_p [B], bits_offset): bpd = (-elbo + bits_offset) / (D ln 2). The Gaussians
    see x dequantised with `rng`: the same rng gives the same y."""
    d = math.prod(x_uint8.shape[1:])
    axes = tuple(range(1, x_uint8.ndim))
    offset = bits_offset(likelihood, d)
    if likelihood == "discretized_logistic":
        return jnp.sum(dist.discretized_logistic_log_prob(x_uint8, out[..., 0], out[..., 1]),
                       axes), offset
    if likelihood == "bernoulli":
        target = x_uint8.astype(jnp.float32) / 255.0
        return jnp.sum(dist.bernoulli_log_prob(target, out[..., 0]), axes), offset
    y = 2.0 * dequantize(rng, x_uint8) - 1.0  # Dequantised, in [-1, 1).
    log_scale = (out[..., 1] if likelihood == "gaussian_learned"
                 else jnp.full_like(out[..., 0], fixed_log_scale))
    log_p = jnp.sum(dist.diag_gaussian_log_prob(y, out[..., 0], log_scale), axes) + d * math.log(2)
    return log_p, offset


def decoder_mean_uint8(likelihood: str, out):
    """The decoder's mean image as uint8 (what sample grids and reconstructions show)."""
    if likelihood == "bernoulli":
        return to_uint8(2.0 * jax.nn.sigmoid(out[..., 0]) - 1.0)
    return to_uint8(out[..., 0])


# Metric names of genmodels.evaluation a VAE can report: its per-example terms and, from its
# decoder and encoder, the reconstruction and disentanglement scores.
PER_EXAMPLE_METRICS = ("bpd", "elbo", "kl", "recon")


def check_iwae(eval_config) -> tuple[int, int]:
    """(k, chunk) of eval.iwae_k and eval.iwae_chunk (both default 1), or a ValueError."""
    k, chunk = eval_config.get("iwae_k", 1), eval_config.get("iwae_chunk", 1)
    for field, value in (("eval.iwae_k", k), ("eval.iwae_chunk", chunk)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{field}={value!r} must be an integer >= 1 (iwae_k=1 is the ELBO).")
    return k, min(k, chunk)


def posterior_noise(rng, k: int, batch: int, latent_dim: int):
    """The randomness of one evaluation: eps [k, B, Z] ~ N(0, I) for z_j = mean + scale * eps_j,
    and the key of the (shared) dequantisation. z_0 is also the ELBO's sample."""
    z_rng, deq_rng = jax.random.split(rng)
    return jax.random.normal(z_rng, (k, batch, latent_dim)), deq_rng


def importance_log_weight(log_px_z, z, mean, log_scale):
    """ln w = ln p(x|z) + ln N(z; 0, I) - ln q(z|x), per example (z, mean, log_scale [B, Z])."""
    zeros = jnp.zeros_like(z)
    log_prior = jnp.sum(dist.diag_gaussian_log_prob(z, zeros, zeros), axis=-1)
    log_q = jnp.sum(dist.diag_gaussian_log_prob(z, mean, log_scale), axis=-1)
    return log_px_z + log_prior - log_q


def build(config, info) -> Method:
    if info.kind != "image":
        raise ValueError(f"The vae method needs an image dataset; data.name={info.name!r} is "
                         f"{info.kind}.")
    m = config.model
    if m.likelihood not in LIKELIHOODS:
        raise ValueError(f"Unknown likelihood {m.likelihood!r} (model.likelihood); valid: "
                         f"{', '.join(LIKELIHOODS)}.")
    if not m.beta >= 0:
        raise ValueError(f"model.beta={m.beta!r} must be >= 0 (1 is the VAE, > 1 the beta-VAE).")
    check_upsample_kind(m.upsample)
    iwae_k, iwae_chunk = check_iwae(config.eval)
    models.check_divisible(info.shape, len(m.encoder_features), "model.encoder_features")
    models.check_divisible(info.shape, len(m.decoder_features), "model.decoder_features")
    vae = VAE(tuple(info.shape), m.latent_dim, tuple(m.encoder_features),
              tuple(m.decoder_features), m.dense, LIKELIHOODS[m.likelihood], m.upsample)
    fixed_log_scale = math.log(m.gaussian_scale)
    likelihood = functools.partial(log_likelihood, m.likelihood, fixed_log_scale)
    d = math.prod(info.shape)

    def to_bpd(log_p, offset):
        return (offset - log_p) / (d * math.log(2))

    def terms(variables, x_uint8, rng):
        """Training terms, per example: elbo, kl (analytic), recon (nats) from one z ~ q(z|x),
        and the ELBO's bpd where the likelihood has one."""
        z_rng, deq_rng = jax.random.split(rng)
        mean, log_scale = vae.apply(variables, to_signed(x_uint8), method=VAE.encode)
        z = dist.diag_gaussian_sample(z_rng, mean, log_scale)
        out = vae.apply(variables, z, method=VAE.decode)
        log_p, offset = likelihood(x_uint8, deq_rng, out)
        kl = jnp.sum(dist.kl_diag_gaussian_standard(mean, log_scale), axis=-1)
        result = {"elbo": log_p - kl, "kl": kl, "recon": -log_p}
        if offset is not None:
            result["bpd"] = to_bpd(log_p - kl, offset)
        return result

    def iwae_terms(variables, x_uint8, rng):
        """elbo/kl/recon as in `terms`, plus the IWAE-k bound `iwae` (nats) and, where the
        likelihood is a density on 8-bit data, `bpd` (IWAE-k) and `bpd_elbo`; `iwae_k` = k."""
        mean, log_scale = vae.apply(variables, to_signed(x_uint8), method=VAE.encode)
        eps, deq_rng = posterior_noise(rng, iwae_k, x_uint8.shape[0], m.latent_dim)

        def sample_terms(eps_j):
            z = mean + jnp.exp(log_scale) * eps_j
            log_p, _ = likelihood(x_uint8, deq_rng, vae.apply(variables, z, method=VAE.decode))
            return log_p, importance_log_weight(log_p, z, mean, log_scale)

        log_p, log_w = jax.lax.map(sample_terms, eps, batch_size=iwae_chunk)  # [k, B] each.
        offset = bits_offset(m.likelihood, d)
        kl = jnp.sum(dist.kl_diag_gaussian_standard(mean, log_scale), axis=-1)
        bound = dist.iwae_bound(log_w)
        result = {"elbo": log_p[0] - kl, "kl": kl, "recon": -log_p[0], "iwae": bound,
                  "iwae_k": jnp.full_like(kl, iwae_k)}
        if offset is not None:
            result["bpd"] = to_bpd(bound, offset)
            result["bpd_elbo"] = to_bpd(log_p[0] - kl, offset)
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
        return iwae_terms(variables["vae"], batch["image"], rng)

    def bpd(variables, x_uint8, rng):
        return iwae_terms(variables["vae"], x_uint8, rng)["bpd"]

    has_bpd = m.likelihood != "bernoulli"
    supported = PER_EXAMPLE_METRICS if has_bpd else PER_EXAMPLE_METRICS[1:]
    return Method(
        name="vae",
        players=(Player("vae", loss_fn, make_optimizer(config.optim, "optim")),),
        schedule=(("vae", 1),),
        init=init, sample=sample, eval_fn=eval_fn, encode=encode, decode=decode,
        reconstruct=reconstruct, bpd=bpd if has_bpd else None, latent_dim=m.latent_dim,
        metrics=supported + RECONSTRUCTION_METRICS + DISENTANGLEMENT_METRICS)
