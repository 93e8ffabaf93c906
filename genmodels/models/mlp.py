"""MLPs for 2-D point data: the VEEGAN / PacGAN mixture-of-Gaussians protocol architecture
(G: 4 x 400 ReLU + batch norm; D: 3 x 200 maxout(5)); Goodfellow et al. 2013 for maxout.

`kernel_init` of every module here is Flax's default (LeCun normal) unless given; the protocol's
code draws every weight from N(0, 0.02) (`weight_init("normal_0.02")`), biases stay zero."""
from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn

WEIGHT_INITS = {"default": nn.linear.default_kernel_init,
                "normal_0.02": nn.initializers.normal(0.02)}


def weight_init(name: str, field: str = "model.init") -> nn.initializers.Initializer:
    """The kernel initialiser named `name`: "default" (Flax's LeCun normal) or "normal_0.02"."""
    if name not in WEIGHT_INITS:
        raise ValueError(f"Unknown weight initialisation {name!r} ({field}); valid: "
                         f"{', '.join(WEIGHT_INITS)}.")
    return WEIGHT_INITS[name]

from genmodels.nn.minibatch import MinibatchStddev


class Maxout(nn.Module):
    """maxout(k): h_j = max_i (W x + b)_{j, i}: a Dense to k * features, max over the k pieces."""

    features: int
    pieces: int
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init

    @nn.compact
    def __call__(self, x):
        h = nn.Dense(self.features * self.pieces, kernel_init=self.kernel_init)(x)
        return h.reshape(*h.shape[:-1], self.features, self.pieces).max(axis=-1)


class MLPGenerator(nn.Module):
    """z [B, Z] -> points [B, out_dim]; hidden layers Dense -> (BatchNorm) -> ReLU.

    Batch norm keeps running averages ra <- bn_momentum ra + (1 - bn_momentum) batch statistic
    (Flax's convention: the protocol's running-average rate 0.05 is bn_momentum 0.95)."""

    out_dim: int = 2
    hidden: Sequence[int] = (400, 400, 400, 400)
    use_batch_norm: bool = True
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, z, train: bool):
        h = z
        for width in self.hidden:
            h = nn.Dense(width, use_bias=not self.use_batch_norm, kernel_init=self.kernel_init)(h)
            if self.use_batch_norm:
                h = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                                 epsilon=self.bn_epsilon)(h)
            h = nn.relu(h)
        return nn.Dense(self.out_dim, kernel_init=self.kernel_init)(h)


class MLPDiscriminator(nn.Module):
    """points [B, D] -> logits [B]; hidden layers maxout(maxout), or Dense + LeakyReLU(0.2) when
    maxout == 1. `train` is accepted for a uniform signature (no train-time behaviour)."""

    hidden: Sequence[int] = (200, 200, 200)
    maxout: int = 5
    stddev_group: int = 0  # > 0: minibatch standard deviation feature before the output layer
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init

    @nn.compact
    def __call__(self, x, train: bool):
        if self.maxout < 1:
            raise ValueError(f"model.maxout must be >= 1; got {self.maxout}")
        h = x
        for width in self.hidden:
            if self.maxout == 1:
                h = nn.leaky_relu(nn.Dense(width, kernel_init=self.kernel_init)(h), 0.2)
            else:
                h = Maxout(width, self.maxout, self.kernel_init)(h)
        if self.stddev_group:
            h = MinibatchStddev(self.stddev_group)(h, train)
        return nn.Dense(1, kernel_init=self.kernel_init)(h)[:, 0]
