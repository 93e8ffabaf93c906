"""MLPs for 2-D point data: the VEEGAN / PacGAN mixture-of-Gaussians protocol architecture
(G: 4 x 400 ReLU + batch norm; D: 3 x 200 maxout(5)); Goodfellow et al. 2013 for maxout."""
from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn

from genmodels.nn.minibatch import MinibatchStddev


class Maxout(nn.Module):
    """maxout(k): h_j = max_i (W x + b)_{j, i}: a Dense to k * features, max over the k pieces."""

    features: int
    pieces: int

    @nn.compact
    def __call__(self, x):
        h = nn.Dense(self.features * self.pieces)(x)
        return h.reshape(*h.shape[:-1], self.features, self.pieces).max(axis=-1)


class MLPGenerator(nn.Module):
    """z [B, Z] -> points [B, out_dim]; hidden layers Dense -> (BatchNorm) -> ReLU."""

    out_dim: int = 2
    hidden: Sequence[int] = (400, 400, 400, 400)
    use_batch_norm: bool = True

    @nn.compact
    def __call__(self, z, train: bool):
        h = z
        for width in self.hidden:
            h = nn.Dense(width, use_bias=not self.use_batch_norm)(h)
            if self.use_batch_norm:
                h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
            h = nn.relu(h)
        return nn.Dense(self.out_dim)(h)


class MLPDiscriminator(nn.Module):
    """points [B, D] -> logits [B]; hidden layers maxout(maxout), or Dense + LeakyReLU(0.2) when
    maxout == 1. `train` is accepted for a uniform signature (no train-time behaviour)."""

    hidden: Sequence[int] = (200, 200, 200)
    maxout: int = 5
    stddev_group: int = 0  # > 0: minibatch standard deviation feature before the output layer

    @nn.compact
    def __call__(self, x, train: bool):
        if self.maxout < 1:
            raise ValueError(f"model.maxout must be >= 1; got {self.maxout}")
        h = x
        for width in self.hidden:
            if self.maxout == 1:
                h = nn.leaky_relu(nn.Dense(width)(h), 0.2)
            else:
                h = Maxout(width, self.maxout)(h)
        if self.stddev_group:
            h = MinibatchStddev(self.stddev_group)(h, train)
        return nn.Dense(1)(h)[:, 0]
