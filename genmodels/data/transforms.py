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


def level_index(x_uint8, num_levels: int = 256):
    """float32 index k = round(x (L - 1) / 255) of the level nearest to x on an L-level grid
    whose levels are the uint8 values `level_value(k, L)` (L = 256: k = x)."""
    x = jnp.asarray(x_uint8).astype(jnp.float32)
    return x if num_levels == 256 else jnp.round(x * (num_levels - 1) / 255.0)


def level_value(k, num_levels: int = 256):
    """uint8 value round(k 255 / (L - 1)) of level k in {0..L-1}: how a dataset with L levels
    (DatasetInfo.num_levels, e.g. digits' 17) spreads them over 0..255."""
    k = jnp.asarray(k).astype(jnp.float32)
    v = k if num_levels == 256 else jnp.round(k * 255.0 / (num_levels - 1))
    return jnp.clip(v, 0, 255).astype(jnp.uint8)


def on_level_grid(x_uint8, num_levels: int = 256):
    """Per example [B]: True iff every value of x is one of the L levels (always, for L = 256)."""
    x = jnp.asarray(x_uint8)
    if num_levels == 256:
        return jnp.ones(x.shape[:1], bool)
    exact = level_value(level_index(x, num_levels), num_levels) == x
    return jnp.all(exact.reshape(x.shape[0], -1), axis=-1)


def dequantize(rng: jax.Array, x_uint8, num_levels: int = 256) -> jax.Array:
    """Uniform dequantisation: float32 (k + u) / L with u ~ U[0, 1), k = `level_index(x, L)`,
    in [k / L, (k + 1) / L); for L = 256, (x + u) / 256.

    A density p(y) of the result gives bits/dim of x as -log2 p(y) / D + log2 L: on the 256-level
    scale too when x is on the L-level grid, since the discrete model it defines puts no mass on
    the other values.
    """
    k = level_index(x_uint8, num_levels)
    y = (k + jax.random.uniform(rng, k.shape, jnp.float32)) / num_levels
    # In float32, k + u rounds up to k + 1 for u within 2^-17 of 1 when k >= 128: keep the bound.
    return jnp.minimum(y, jnp.nextafter((k + 1.0) / num_levels, 0.0))
