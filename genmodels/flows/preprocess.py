"""Pre-processing between uint8 images and a flow's input, each returning its log-det.

A flow models the dequantised image y = (x + u) / 256 in [0, 1)^D (u ~ U[0, 1)^D,
`dequantize`) through a fixed invertible map z = g(y) followed by the learned flow:
  ln p(y) = ln p_Z(f(z)) + ln|det df/dz| + ln|det dg/dy|
and bits/dim on the 256-level scale (REFERENCES.md) is
  bpd = (-ln p(y) + D ln 256) / (D ln 2) = -ln p(y) / (D ln 2) + 8.
Every function here returns the per-example log-det [B] of the map it applies, so the caller
can add it to ln p.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from genmodels.data import dequantize, level_value

PREPROCESSINGS = ("logit", "affine")
LOGIT_ALPHA = 0.05  # Real NVP (Dinh et al. 2017, Sec. 4.1).


def _sum_per_example(v):
    return jnp.sum(v, axis=tuple(range(1, v.ndim)))


def logit_forward(y, alpha: float = LOGIT_ALPHA):
    """Real NVP's logit: z = logit(s), s = alpha + (1 - 2 alpha) y.

    ln|dz/dy| = sum_i [ln(1 - 2 alpha) - ln s_i - ln(1 - s_i)]."""
    s = alpha + (1.0 - 2.0 * alpha) * y
    z = jnp.log(s) - jnp.log1p(-s)
    logdet = _sum_per_example(math.log(1.0 - 2.0 * alpha) - jnp.log(s) - jnp.log1p(-s))
    return z, logdet


def logit_inverse(z, alpha: float = LOGIT_ALPHA):
    """y = (sigmoid(z) - alpha) / (1 - 2 alpha); returns (y, ln|dy/dz|)."""
    s = jax.nn.sigmoid(z)
    y = (s - alpha) / (1.0 - 2.0 * alpha)
    logdet = _sum_per_example(jax.nn.log_sigmoid(z) + jax.nn.log_sigmoid(-z)
                              - math.log(1.0 - 2.0 * alpha))
    return y, logdet


def affine_forward(y):
    """z = 2 y - 1 in [-1, 1) (GAN-space scaling; Glow's x - 1/2 up to a factor of 2).

    ln|dz/dy| = D ln 2."""
    d = math.prod(y.shape[1:])
    return 2.0 * y - 1.0, jnp.full(y.shape[:1], d * math.log(2.0), y.dtype)


def affine_inverse(z):
    """y = (z + 1) / 2; returns (y, -D ln 2)."""
    d = math.prod(z.shape[1:])
    return (z + 1.0) / 2.0, jnp.full(z.shape[:1], -d * math.log(2.0), z.dtype)


def check_preprocess(name: str, alpha: float, field: str = "model") -> None:
    if name not in PREPROCESSINGS:
        raise ValueError(f"Unknown pre-processing {name!r} ({field}.preprocess); valid: "
                         f"{', '.join(PREPROCESSINGS)}.")
    if not 0.0 < alpha < 0.5:  # Checked even when unused, so a typo never waits for a switch.
        raise ValueError(f"{field}.logit_alpha={alpha!r} must be in (0, 0.5) (Real NVP: 0.05).")


def preprocess_forward(name: str, y, alpha: float = LOGIT_ALPHA):
    """y in [0, 1)^D -> (z, ln|dz/dy|) with `name` in PREPROCESSINGS."""
    return logit_forward(y, alpha) if name == "logit" else affine_forward(y)


def preprocess_inverse(name: str, z, alpha: float = LOGIT_ALPHA):
    """z -> (y, ln|dy/dz|), the inverse of preprocess_forward."""
    return logit_inverse(z, alpha) if name == "logit" else affine_inverse(z)


def standard_normal_log_prob(z):
    """sum_i ln N(z_i; 0, 1) per example; z is an array [B, ...] or a sequence of them."""
    parts = z if isinstance(z, (list, tuple)) else (z,)
    return sum(_sum_per_example(-0.5 * jnp.square(p) - 0.5 * math.log(2.0 * math.pi))
               for p in parts)


def bits_per_dim(log_p_y, num_dims: int, num_levels: int = 256):
    """bpd = (-ln p(y) + D ln L) / (D ln 2), y the dequantised image in [0, 1)^D on L levels
    (`dequantize(rng, x, L)`); on the 256-level scale for data on the L-level grid."""
    return (num_dims * math.log(num_levels) - log_p_y) / (num_dims * math.log(2.0))


def to_uint8_levels(y, num_levels: int = 256):
    """y in [0, 1) -> the image of levels floor(L y) (clipped), as uint8 values
    (`level_value`): the inverse of dequantize."""
    k = jnp.clip(jnp.floor(num_levels * y), 0, num_levels - 1)
    return level_value(k, num_levels)


__all__ = ["LOGIT_ALPHA", "PREPROCESSINGS", "affine_forward", "affine_inverse", "bits_per_dim",
           "check_preprocess", "dequantize", "logit_forward", "logit_inverse",
           "preprocess_forward", "preprocess_inverse", "standard_normal_log_prob",
           "to_uint8_levels"]
