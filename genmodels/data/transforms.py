"""Conversions between the uint8 data space and what models see (DESIGN.md §3).

`to_signed` and `to_uint8` use only array methods, so they accept numpy and jax arrays alike
(and work under `jax.jit`); `dequantize` draws jax randomness.
"""
import jax
import jax.numpy as jnp
import numpy as np


def to_signed(x_uint8):
    """uint8 {0..255} -> float32 in [-1, 1]: x / 127.5 - 1."""
    return x_uint8.astype(np.float32) / 127.5 - 1.0


def to_uint8(x_signed):
    """float in [-1, 1] -> uint8: the inverse of `to_signed`, clipped to [0, 255] and rounded."""
    return ((x_signed + 1.0) * 127.5).clip(0.0, 255.0).round().astype(np.uint8)


def dequantize(rng: jax.Array, x_uint8) -> jax.Array:
    """Uniform dequantisation: float32 (x + u) / 256 with u ~ U[0, 1), in [x / 256, (x + 1) / 256).

    A density p(y) of the result gives bits/dim on the 256-level scale as -log2 p(y) / D + 8.
    """
    x = jnp.asarray(x_uint8).astype(jnp.float32)
    y = (x + jax.random.uniform(rng, x.shape, jnp.float32)) / 256.0
    # In float32, x + u rounds up to x + 1 for u within 2^-17 of 1 when x >= 128: keep the bound.
    return jnp.minimum(y, jnp.nextafter((x + 1.0) / 256.0, 0.0))
