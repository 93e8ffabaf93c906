"""Networks on (x, z) pairs and latent codes: ALI/BiGAN joint discriminators, AAE code critics."""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from genmodels.models.mlp import MLPDiscriminator, MLPGenerator


class JointConvDiscriminator(nn.Module):
    """D(x, z) for images (ALI, Dumoulin et al. 2017; BiGAN, Donahue et al. 2017): stride-2 4x4
    convs with LeakyReLU(0.2) embed x, a Dense embeds z, and an MLP on both gives the logit [B]."""

    features: Sequence[int] = (64, 128)
    hidden: int = 512

    @nn.compact
    def __call__(self, x, z, train: bool):
        h = x
        for f in self.features:
            h = nn.leaky_relu(nn.Conv(f, (4, 4), (2, 2), padding="SAME")(h), 0.2)
        hz = nn.leaky_relu(nn.Dense(self.hidden)(z), 0.2)
        h = jnp.concatenate([h.reshape(h.shape[0], -1), hz], axis=-1)
        h = nn.leaky_relu(nn.Dense(self.hidden)(h), 0.2)
        return nn.Dense(1)(h)[:, 0]


class JointMLPDiscriminator(nn.Module):
    """D(x, z) for points: the protocol MLP discriminator on [x, z]."""

    hidden: Sequence[int] = (200, 200, 200)
    maxout: int = 5

    @nn.compact
    def __call__(self, x, z, train: bool):
        return MLPDiscriminator(tuple(self.hidden), self.maxout)(jnp.concatenate([x, z], -1), train)


class MLPEncoder(nn.Module):
    """x [B, D] -> (mean, log_scale) of a diagonal Gaussian q(z|x), both [B, Z]."""

    latent_dim: int
    hidden: Sequence[int] = (400, 400)

    @nn.compact
    def __call__(self, x, train: bool):
        out = MLPGenerator(2 * self.latent_dim, tuple(self.hidden), use_batch_norm=False)(x, train)
        return jnp.split(out, 2, axis=-1)
