"""Likelihood terms shared by the likelihood methods (vae, hybrid, agave): pixel likelihoods by
name, the feature-space ELBO, and the IWAE bound. Pure functions of per-example arrays."""

import dataclasses
import math
from typing import Callable

import jax
import jax.numpy as jnp

from genmodels import distributions as dist
from genmodels.data import dequantize
from genmodels.distributions import diag_gaussian_log_prob


def feature_space_elbo(features, log_det, mean, log_scale, kl):
    """ELBO of x with a Gaussian likelihood in the feature space of an invertible f_psi (ADE,
    Lucas et al. 2019, the negative of L_C):

      ln p(x) >= E_q(z|x)[ ln N(f_psi(x); mu_theta(z), diag sigma^2) ] + ln|det df_psi/dx|
                 - KL(q(z|x) || p(z))

    features, mean, log_scale: [B, ...] (f_psi(x), mu_theta(z) and ln sigma, broadcastable);
    log_det, kl: [B]. Returns the per-example bound [B] (one sample of z) in nats.
    """
    axes = tuple(range(1, features.ndim))
    log_lik = jnp.sum(diag_gaussian_log_prob(features, mean, log_scale), axis=axes)
    return log_lik + log_det - kl


# ---------------------------------------------------------------------------------------------
# Pixel likelihoods p(x | z) of a decoder, by name (model.likelihood), on the 256-level scale.

@dataclasses.dataclass(frozen=True)
class PixelLikelihood:
    """A decoder likelihood: `outputs_per_channel` decoder outputs per sub-pixel, `log_prob(
    x_uint8, out, rng, fixed_log_scale)` -> ln p(x|z) per image, `mean(out)` -> the signed mean
    image, and `offset(D)`: bpd = (offset - ln p) / (D ln 2), None where ln p is no density on
    8-bit data (then there is no bpd)."""
    name: str
    outputs_per_channel: int
    log_prob: Callable
    mean: Callable
    offset: Callable[[int], float | None]


_LIKELIHOODS: dict[str, PixelLikelihood] = {}


def register_likelihood(name: str, outputs_per_channel: int, offset, mean=None):
    """Decorator registering log_prob(x_uint8, out, rng, fixed_log_scale) under `name`."""
    def wrap(log_prob):
        _LIKELIHOODS[name] = PixelLikelihood(name, outputs_per_channel, log_prob,
                                             mean or (lambda out: out[..., 0]), offset)
        return log_prob
    return wrap


def likelihood_names() -> tuple[str, ...]:
    return tuple(_LIKELIHOODS)


def get_likelihood(name: str, field: str = "model.likelihood") -> PixelLikelihood:
    if name not in _LIKELIHOODS:
        raise ValueError(f"Unknown likelihood {name!r} ({field}); valid: "
                         f"{', '.join(_LIKELIHOODS)}.")
    return _LIKELIHOODS[name]


def _sum_per_image(values):
    return jnp.sum(values, tuple(range(1, values.ndim)))


def _density_offset(d: int) -> float:
    return d * math.log(256)  # Densities of y in [0, 1)^D: ln p(x) = ln p(y) - D ln 256.


@register_likelihood("discretized_logistic", 2, offset=lambda d: 0.0)
def _discretized_logistic(x_uint8, out, rng, fixed_log_scale):
    """A pmf over the 256 levels (Salimans et al. 2017, one logistic)."""
    return _sum_per_image(dist.discretized_logistic_log_prob(x_uint8, out[..., 0], out[..., 1]))


def _gaussian(x_uint8, mean, log_scale, rng):
    """Density of x' = 2 y - 1, y = (x + u) / 256 dequantised with `rng`, counted as a density
    of y (the D ln 2 log-det of the rescaling)."""
    d = math.prod(x_uint8.shape[1:])
    y = 2.0 * dequantize(rng, x_uint8) - 1.0
    return _sum_per_image(dist.diag_gaussian_log_prob(y, mean, log_scale)) + d * math.log(2)


@register_likelihood("gaussian_fixed", 1, offset=_density_offset)
def _gaussian_fixed(x_uint8, out, rng, fixed_log_scale):
    return _gaussian(x_uint8, out[..., 0], jnp.full_like(out[..., 0], fixed_log_scale), rng)


@register_likelihood("gaussian_learned", 2, offset=_density_offset)
def _gaussian_learned(x_uint8, out, rng, fixed_log_scale):
    return _gaussian(x_uint8, out[..., 0], out[..., 1], rng)


@register_likelihood("bernoulli", 1, offset=lambda d: None,
                     mean=lambda out: 2.0 * jax.nn.sigmoid(out[..., 0]) - 1.0)
def _bernoulli(x_uint8, out, rng, fixed_log_scale):
    """Targets x / 255 in [0, 1]: not a density on 8-bit data, so no bpd."""
    return _sum_per_image(dist.bernoulli_log_prob(x_uint8.astype(jnp.float32) / 255.0,
                                                  out[..., 0]))


# ---------------------------------------------------------------------------------------------
# ELBO and the importance-weighted bound of a Gaussian-posterior latent-variable model.

def check_iwae(eval_config) -> tuple[int, int]:
    """(k, chunk) of eval.iwae_k and eval.iwae_chunk, or a ValueError."""
    k, chunk = eval_config.iwae_k, eval_config.iwae_chunk
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
    log_prior = jnp.sum(diag_gaussian_log_prob(z, zeros, zeros), axis=-1)
    log_q = jnp.sum(diag_gaussian_log_prob(z, mean, log_scale), axis=-1)
    return log_px_z + log_prior - log_q


def importance_sampled(log_px_z_fn, mean, log_scale, eps, chunk: int):
    """The IWAE-k bound (Burda et al. 2016) L_k = ln (1/k) sum_j w_j with z_j = mean + sigma
    eps_j, eps [k, B, Z], decoded `chunk` samples at a time (lax.map: memory does not grow with
    k). Returns (ln p(x|z_j) [k, B], L_k [B], KL(q(z|x) || N(0, I)) [B]); ln p(x|z_0) - KL is
    the single-sample ELBO."""
    def sample_terms(eps_j):
        z = mean + jnp.exp(log_scale) * eps_j
        log_px_z = log_px_z_fn(z)
        return log_px_z, importance_log_weight(log_px_z, z, mean, log_scale)

    log_px_z, log_w = jax.lax.map(sample_terms, eps, batch_size=chunk)
    kl = jnp.sum(dist.kl_diag_gaussian_standard(mean, log_scale), axis=-1)
    return log_px_z, dist.iwae_bound(log_w), kl
