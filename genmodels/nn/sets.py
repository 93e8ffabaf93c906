"""Permutation-equivariant set layers over the batch axis (DeepSets, Zaheer et al. 2017), as used
by the symmetric discriminators of BGAN (Lucas, Tallec, Ollivier, Verbeek 2018).

A set layer treats the batch as a set: every element gets an element-wise map of itself plus a
statistic pooled over the whole batch,
  h_i' = phi(h_i) + rho(pool_j psi(h_j)),   pool in {mean, max} over j = 1..B,
so permuting the batch permutes the output identically, and stacks of such layers followed by a
symmetric pooling are universal approximators of symmetric functions. On NHWC feature maps the
pooling runs over the batch axis only: the statistic is per position and channel.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

Array = Any
POOLS = ("mean", "max")


def check_pool(pool: str, field: str = "pool") -> None:
    """Raises a ValueError naming the config field for an unknown pooling."""
    if pool not in POOLS:
        raise ValueError(f"Unknown set pooling {pool!r} ({field}); valid: {', '.join(POOLS)}.")


def batch_pool(h: Array, pool: str) -> Array:
    """pool_j h_j over the batch axis 0, kept as a broadcastable axis of size 1."""
    check_pool(pool)
    return jnp.mean(h, axis=0, keepdims=True) if pool == "mean" else jnp.max(h, axis=0,
                                                                             keepdims=True)


def resolve_set_layers(set_layers: Sequence[int], num_stages: int,
                       field: str = "set_layers") -> tuple[int, ...]:
    """Positions (0..num_stages) after which a network inserts set layers, sorted and unique.

    Position k means "after the k-th hidden layer / conv stage" (0: on the input); negative
    positions count from the end as in Python (-1: after the last stage).
    """
    positions = set()
    for k in set_layers:
        if not -(num_stages + 1) <= k <= num_stages:
            raise ValueError(f"{field}={tuple(set_layers)}: position {k} is out of range; the "
                             f"network has {num_stages} stages, so positions are 0..{num_stages} "
                             f"(or -{num_stages + 1}..-1 from the end).")
        positions.add(k % (num_stages + 1))
    return tuple(sorted(positions))


class SetLayer(nn.Module):
    """[B, ..., F_in] -> [B, ..., features]: h_i' = phi(h_i) + rho(pool_j psi(h_j)).

    phi: Dense (with bias); psi: Dense + LeakyReLU(0.2), so that a single layer already pools a
    non-linear feature (mean pooling of a linear map would only see the batch mean); rho: Dense
    without bias. Dense maps act on the last axis (1x1 convolutions on NHWC maps). The output is
    linear in phi and rho: the caller applies the non-linearity.
    """

    features: int
    pool: str = "mean"  # "mean" | "max"
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init

    @nn.compact
    def __call__(self, h: Array) -> Array:
        check_pool(self.pool)
        element = nn.Dense(self.features, kernel_init=self.kernel_init, name="phi")(h)
        pooled = batch_pool(
            nn.leaky_relu(nn.Dense(self.features, kernel_init=self.kernel_init, name="psi")(h),
                          0.2), self.pool)
        return element + nn.Dense(self.features, use_bias=False, kernel_init=self.kernel_init,
                                  name="rho")(pooled)
