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

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genmodels import distributions as dist
from genmodels import models
from genmodels.nn import check_upsample_kind
from genmodels.data import to_signed, to_uint8
from genmodels.losses import likelihood as likelihood_lib
from genmodels.methods.base import Method, Player
from genmodels.methods.optim import make_optimizer
from genmodels.metrics.names import DISENTANGLEMENT_METRICS, RECONSTRUCTION_METRICS

# The config fields this method reads beyond the ones every config has (genmodels.config):
# methods.build refuses any other field, so a setting is never silently ignored.
CONFIG_FIELDS = ("model.beta", "model.decoder_features", "model.dense", "model.encoder_features",
                 "model.gaussian_scale", "model.latent_dim", "model.likelihood", "model.upsample",
                 "losses.vae", "optim")


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


# Metric names of genmodels.evaluation a VAE can report: its per-example terms and, from its
# decoder and encoder, the reconstruction and disentanglement scores.
PER_EXAMPLE_METRICS = ("bpd", "elbo", "kl", "recon")


def build(config, info) -> Method:
    if info.kind != "image":
        raise ValueError(f"The vae method needs an image dataset; data.name={info.name!r} is "
                         f"{info.kind}.")
    m = config.model
    if config.losses.vae != "elbo":
        raise ValueError(f"Unknown losses.vae={config.losses.vae!r}; valid: elbo (the negative "
                         "ELBO with model.beta on the KL).")
    lik = likelihood_lib.get_likelihood(m.likelihood)
    if not m.beta >= 0:
        raise ValueError(f"model.beta={m.beta!r} must be >= 0 (1 is the VAE, > 1 the beta-VAE).")
    check_upsample_kind(m.upsample)
    iwae_k, iwae_chunk = likelihood_lib.check_iwae(config.eval)
    models.check_divisible(info.shape, len(m.encoder_features), "model.encoder_features")
    models.check_divisible(info.shape, len(m.decoder_features), "model.decoder_features")
    vae = VAE(tuple(info.shape), m.latent_dim, tuple(m.encoder_features),
              tuple(m.decoder_features), m.dense, lik.outputs_per_channel, m.upsample)
    fixed_log_scale = math.log(m.gaussian_scale)
    d = math.prod(info.shape)
    offset = lik.offset(d)

    def likelihood(x_uint8, rng, out):
        return lik.log_prob(x_uint8, out, rng, fixed_log_scale)

    def to_bpd(log_p):
        return (offset - log_p) / (d * math.log(2))

    def terms(variables, x_uint8, rng):
        """Training terms, per example: elbo, kl (analytic), recon (nats) from one z ~ q(z|x),
        and the ELBO's bpd where the likelihood has one."""
        z_rng, deq_rng = jax.random.split(rng)
        mean, log_scale = vae.apply(variables, to_signed(x_uint8), method=VAE.encode)
        z = dist.diag_gaussian_sample(z_rng, mean, log_scale)
        out = vae.apply(variables, z, method=VAE.decode)
        log_p = likelihood(x_uint8, deq_rng, out)
        kl = jnp.sum(dist.kl_diag_gaussian_standard(mean, log_scale), axis=-1)
        result = {"elbo": log_p - kl, "kl": kl, "recon": -log_p}
        if offset is not None:
            result["bpd"] = to_bpd(log_p - kl)
        return result

    def iwae_terms(variables, x_uint8, rng):
        """elbo/kl/recon as in `terms`, plus the IWAE-k bound `iwae` (nats) and, where the
        likelihood is a density on 8-bit data, `bpd` (IWAE-k) and `bpd_elbo`; `iwae_k` = k."""
        mean, log_scale = vae.apply(variables, to_signed(x_uint8), method=VAE.encode)
        eps, deq_rng = likelihood_lib.posterior_noise(rng, iwae_k, x_uint8.shape[0],
                                                      m.latent_dim)
        log_p, bound, kl = likelihood_lib.importance_sampled(
            lambda z: likelihood(x_uint8, deq_rng, vae.apply(variables, z, method=VAE.decode)),
            mean, log_scale, eps, iwae_chunk)
        result = {"elbo": log_p[0] - kl, "kl": kl, "recon": -log_p[0], "iwae": bound,
                  "iwae_k": jnp.full_like(kl, iwae_k)}
        if offset is not None:
            result["bpd"] = to_bpd(bound)
            result["bpd_elbo"] = to_bpd(log_p[0] - kl)
        return result

    def loss_fn(params, collections, batch, rng):
        t = terms({"params": params["vae"]}, batch["image"], rng)
        loss = jnp.mean(t["recon"] + m.beta * t["kl"])
        return loss, ({k: jnp.mean(v) for k, v in t.items()}, {})

    def init(rng, batch):
        x = to_signed(batch["image"][:1])
        return {"vae": vae.init(rng, x, jnp.zeros((1, m.latent_dim)))}

    def decode(variables, z):
        return to_uint8(lik.mean(vae.apply(variables["vae"], z, method=VAE.decode)))

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

    has_bpd = offset is not None
    supported = PER_EXAMPLE_METRICS if has_bpd else PER_EXAMPLE_METRICS[1:]
    return Method(
        name="vae",
        players=(Player("vae", loss_fn, make_optimizer(config.optim, "optim")),),
        schedule=(("vae", 1),),
        init=init, sample=sample, eval_fn=eval_fn, encode=encode, decode=decode,
        reconstruct=reconstruct, bpd=bpd if has_bpd else None, latent_dim=m.latent_dim,
        metrics=supported + RECONSTRUCTION_METRICS + DISENTANGLEMENT_METRICS)
