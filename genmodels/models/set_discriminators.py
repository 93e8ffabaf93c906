"""Symmetric discriminators for mixed-batch GANs (BGAN, Lucas, Tallec, Ollivier, Verbeek 2018).

They see a whole batch as a set and return one score s_i per element [B]. Set layers
(genmodels.nn.SetLayer: h_i' = phi(h_i) + rho(pool_j psi(h_j))) are inserted after chosen hidden
layers or conv stages, so each s_i depends on its own element and on statistics of the batch;
every other layer is element-wise. Hence permuting the batch permutes the scores, and any
symmetric read-out of them, such as the batch prediction mean_i s_i, is permutation-invariant by
construction.

`set_layers` lists positions: k inserts a set layer after the k-th hidden layer / conv stage
(0: on the input; negative positions count from the end, -1: after the last one).

Batch norm is off by default in the set discriminators: in train mode it normalises with the
statistics of the (mixed) batch, a second, uncontrolled channel through which the batch
composition leaks into every score, and it behaves differently in eval mode (running averages),
so that the ratio the discriminator predicts would depend on the mode. The set layers are the
controlled channel.
"""
from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn

from genmodels.models.dcgan import WEIGHT_INIT, _batch_norm, dcgan_num_upsamplings
from genmodels.models.mlp import Maxout
from genmodels.nn.sets import SetLayer, resolve_set_layers


class SetMLPDiscriminator(nn.Module):
    """points [B, D] -> scores [B]: the 2-D mixture protocol D (hidden layers maxout(maxout), or
    Dense + LeakyReLU(0.2) when maxout == 1) with a set layer of the same width, then
    LeakyReLU(0.2), after each listed hidden layer (position 0: the first layer's width). A set
    layer costs about two Dense layers of its width (phi, psi); maxout pieces there would
    multiply that by `maxout`. `train` is accepted for a uniform signature."""

    hidden: Sequence[int] = (200, 200, 200)
    maxout: int = 5
    set_layers: Sequence[int] = (1, 2)
    pool: str = "mean"
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init

    @nn.compact
    def __call__(self, x, train: bool):
        if self.maxout < 1:
            raise ValueError(f"model.maxout must be >= 1; got {self.maxout}")
        positions = resolve_set_layers(self.set_layers, len(self.hidden))
        h = x
        for k in range(len(self.hidden) + 1):
            if k in positions:
                width = self.hidden[max(k - 1, 0)]
                h = SetLayer(width, self.pool, self.kernel_init, name=f"set_{k}")(h)
                h = nn.leaky_relu(h, 0.2)
            if k == len(self.hidden):
                break
            if self.maxout == 1:
                h = nn.leaky_relu(nn.Dense(self.hidden[k], kernel_init=self.kernel_init,
                                           name=f"hidden_{k}")(h), 0.2)
            else:
                h = Maxout(self.hidden[k], self.maxout, self.kernel_init, name=f"hidden_{k}")(h)
        return nn.Dense(1, kernel_init=self.kernel_init, name="logit")(h)[:, 0]


class SetDCGANDiscriminator(nn.Module):
    """Images [B, H, W, C] in [-1, 1] -> scores [B]: the DCGAN discriminator (k stride-2 4x4 conv
    stages, LeakyReLU(0.2), N(0, 0.02) init) with a set layer (then LeakyReLU(0.2)) after each
    listed stage, pooling per position over the batch; H = W = 4 * 2^k. Batch norm (stages > 0)
    only if use_batch_norm: see the module docstring for why it is off by default."""

    base_features: int = 64
    use_batch_norm: bool = False
    set_layers: Sequence[int] = (-1,)
    pool: str = "mean"

    @nn.compact
    def __call__(self, x, train: bool):
        k = dcgan_num_upsamplings(x.shape[1:])
        positions = resolve_set_layers(self.set_layers, k)

        def set_layer(h, stage, features):
            h = SetLayer(features, self.pool, kernel_init=WEIGHT_INIT, name=f"set_{stage}")(h)
            return nn.leaky_relu(h, 0.2)

        h = set_layer(x, 0, self.base_features) if 0 in positions else x
        for i in range(k):
            features = self.base_features * 2**i
            norm = self.use_batch_norm and i > 0
            h = nn.Conv(features, (4, 4), (2, 2), padding="SAME", use_bias=not norm,
                        kernel_init=WEIGHT_INIT, name=f"conv_{i}")(h)
            if norm:
                h = _batch_norm(train, f"bn_{i}")(h)
            h = nn.leaky_relu(h, 0.2)
            if i + 1 in positions:
                h = set_layer(h, i + 1, features)
        h = h.reshape(h.shape[0], -1)
        return nn.Dense(1, kernel_init=WEIGHT_INIT, name="logit")(h)[:, 0]


class SetAndPointDiscriminator(nn.Module):
    """x -> (set scores [B], point scores [B]): a set discriminator beside a per-sample one (the
    same network without set layers), each with its own weights, so that a point score q_i
    depends on x_i alone while s_i also sees the batch (bgan.point_weight, docs/bgan.md)."""

    set_discriminator: nn.Module
    point_discriminator: nn.Module

    def __call__(self, x, train: bool):
        return self.set_discriminator(x, train), self.point_discriminator(x, train)
