"""Mode-collapse remedies that let the discriminator look across the batch.

`MinibatchStddev` (Karras, Aila, Laine, Lehtinen 2018, "Progressive growing of GANs", sec. 3):
split the batch into groups of G samples, take the standard deviation of every feature over each
group, average it over features and pixels, and append the result as one constant channel.

`MinibatchDiscrimination` (Salimans et al. 2016, "Improved techniques for training GANs",
sec. 3.2): M_i = x_i T with T in R^{A x B x C}; c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1);
o(x_i)_b = sum_{j != i} c_b(x_i, x_j); output [x_i, o(x_i)].
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

Array = Any


def minibatch_stddev_group(group_size: int, batch: int) -> int:
    """The group size actually used: the whole batch for 0, min(group_size, batch) otherwise (as
    in the official code); ValueError unless it divides the batch."""
    if group_size < 0:
        raise ValueError(f"MinibatchStddev: group_size must be >= 0 (0 = whole batch); "
                         f"got {group_size}")
    g = batch if group_size == 0 else min(group_size, batch)
    if batch % g:
        raise ValueError(f"MinibatchStddev: group size {g} must divide the batch size {batch}; "
                         "change data.batch_size or the stddev group size (0 = whole batch)")
    return g


class MinibatchStddev(nn.Module):
    """x [B, ..., C] -> [B, ..., C + 1]: appends the group's mean feature standard deviation.

    Works for NHWC images and [B, F] features (any rank >= 2: the statistic is averaged over every
    non-batch axis and broadcast over all but the last). Sample b belongs to group b % (B / G), the
    strided grouping of the official code; the std is the biased one, sqrt(Var + 1e-8).
    `group_size=0` uses the whole batch as one group. No parameters.
    """

    group_size: int = 4
    eps: float = 1e-8

    @nn.compact
    def __call__(self, x: Array, train: bool) -> Array:
        if x.ndim < 2:
            raise ValueError(f"MinibatchStddev expects [B, ..., C] input; got shape {x.shape}")
        b = x.shape[0]
        g = minibatch_stddev_group(self.group_size, b)
        y = x.astype(jnp.float32).reshape(g, b // g, *x.shape[1:])  # [G, M, ...]
        y = y - y.mean(axis=0)
        std = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + self.eps)  # [M, ...]
        s = std.reshape(b // g, -1).mean(axis=1)  # [M]
        s = jnp.tile(s, g).astype(x.dtype)  # [B]: sample g*M + m gets s[m]
        extra = jnp.broadcast_to(s.reshape((b,) + (1,) * (x.ndim - 1)), x.shape[:-1] + (1,))
        return jnp.concatenate([x, extra], axis=-1)


class MinibatchDiscrimination(nn.Module):
    """x [B, A] -> [B, A + num_kernels] (Salimans et al. 2016, eqs. in sec. 3.2).

    Each sample is compared with the *other* samples of the batch (the official code masks j = i;
    the paper's sum over all j would only add a constant 1). Inputs of rank > 2 are flattened to
    [B, A] first, as in the official code. T ~ N(0, 0.05^2) (the official init; its weight-norm
    parametrisation of T, data-dependent init and per-kernel bias are left out: a following
    Dense absorbs the bias). Memory is O(B^2 * num_kernels * kernel_dim).
    """

    num_kernels: int = 50
    kernel_dim: int = 5
    kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.05)

    @nn.compact
    def __call__(self, x: Array, train: bool) -> Array:
        if x.ndim < 2:
            raise ValueError(f"MinibatchDiscrimination expects [B, A] input; got shape {x.shape}")
        b = x.shape[0]
        x = x.reshape(b, -1)
        t = self.param("kernel", self.kernel_init,
                       (x.shape[-1], self.num_kernels, self.kernel_dim))
        m = jnp.einsum("ba,akc->bkc", x, t)  # [B, K, C]
        dist = jnp.sum(jnp.abs(m[:, None] - m[None, :]), axis=-1)  # [B, B, K]
        others = 1.0 - jnp.eye(b, dtype=dist.dtype)
        o = jnp.sum(jnp.exp(-dist) * others[:, :, None], axis=1)  # [B, K]
        return jnp.concatenate([x, o.astype(x.dtype)], axis=-1)
