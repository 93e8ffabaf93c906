"""Diagonal Gaussian N(mean, sigma^2), parameterised by log_scale = log sigma (elementwise)."""
import math

import jax
import jax.numpy as jnp

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def diag_gaussian_log_prob(x, mean, log_scale):
    """log N(x; mean, sigma^2) = -((x - mean) / sigma)^2 / 2 - log sigma - log(2 pi) / 2."""
    z = (x - mean) * jnp.exp(-log_scale)
    return -0.5 * jnp.square(z) - log_scale - _HALF_LOG_2PI


def diag_gaussian_sample(rng, mean, log_scale):
    """Reparameterised mean + sigma * eps, eps ~ N(0, I); shape broadcast(mean, log_scale)."""
    shape = jnp.broadcast_shapes(jnp.shape(mean), jnp.shape(log_scale))
    eps = jax.random.normal(rng, shape, jnp.result_type(mean, log_scale))
    return mean + jnp.exp(log_scale) * eps


def kl_diag_gaussian_standard(mean, log_scale):
    """KL(N(mean, sigma^2) || N(0, 1)) = (sigma^2 + mean^2 - 1) / 2 - log sigma, elementwise."""
    return 0.5 * (jnp.exp(2.0 * log_scale) + jnp.square(mean) - 1.0) - log_scale
