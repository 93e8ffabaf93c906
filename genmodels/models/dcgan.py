"""DCGAN generator and discriminator (Radford, Metz, Chintala 2016).

Recipe: strided convolutions (no pooling), batch norm (not on the generator output nor the
discriminator input layer), ReLU in G with a tanh output, LeakyReLU(0.2) in D, weights drawn from
N(0, 0.02) (batch-norm scales from N(1, 0.02)). Batch norm momentum 0.9 (PyTorch's 0.1) and
epsilon 1e-5, as in the reference implementations.

Images are square with side 4 * 2^k (k >= 1): G maps z to a 4x4 map with base * 2^(k-1) features,
then k stride-2 4x4 upsampling convs (features halving, the last one to C channels); D mirrors it
with k stride-2 4x4 convs from base features, doubling, down to 4x4.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genmodels.nn import upsample_conv

WEIGHT_INIT = nn.initializers.normal(0.02)


def _bn_scale_init(key, shape, dtype=jnp.float32):
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _batch_norm(train: bool, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                        scale_init=_bn_scale_init, name=name)


def dcgan_num_upsamplings(image_shape) -> int:
    """k such that the image side is 4 * 2^k (k >= 1); ValueError for unsupported shapes."""
    h, w = image_shape[0], image_shape[1]
    k = (h // 4).bit_length() - 1
    if h != w or k < 1 or h != 4 * 2**k:
        raise ValueError(
            f"DCGAN: image side must be 4 * 2^k (8, 16, 32, 64, ...) and square; got {h}x{w}; "
            "set data.image_size to one of these sizes")
    return k


class DCGANGenerator(nn.Module):
    """z [B, Z] -> images [B, H, W, C] in [-1, 1] (tanh), H = W = 4 * 2^k."""

    image_shape: tuple[int, int, int]
    base_features: int = 64
    upsample: str = "subpixel"  # "subpixel" | "transpose": same function, same parameters
    use_batch_norm: bool = True

    @nn.compact
    def __call__(self, z, train: bool):
        k = dcgan_num_upsamplings(self.image_shape)
        features = self.base_features * 2 ** (k - 1)
        bias = not self.use_batch_norm

        def norm_relu(h, name):
            if self.use_batch_norm:
                h = _batch_norm(train, name)(h)
            return nn.relu(h)

        h = nn.Dense(4 * 4 * features, use_bias=bias, kernel_init=WEIGHT_INIT, name="dense")(z)
        h = norm_relu(h.reshape(z.shape[0], 4, 4, features), "bn_dense")
        for i in range(k - 1):
            features //= 2
            h = upsample_conv(self.upsample, features, use_bias=bias, kernel_init=WEIGHT_INIT,
                              name=f"up_{i}")(h)
            h = norm_relu(h, f"bn_{i}")
        h = upsample_conv(self.upsample, self.image_shape[2], kernel_init=WEIGHT_INIT,
                          name=f"up_{k - 1}")(h)
        return jnp.tanh(h)


class DCGANDiscriminator(nn.Module):
    """Images [B, H, W, C] in [-1, 1] -> logits [B]; H = W = 4 * 2^k."""

    base_features: int = 64
    use_batch_norm: bool = True

    @nn.compact
    def __call__(self, x, train: bool):
        k = dcgan_num_upsamplings(x.shape[1:])
        h = x
        for i in range(k):
            norm = self.use_batch_norm and i > 0
            h = nn.Conv(self.base_features * 2**i, (4, 4), (2, 2), padding="SAME",
                        use_bias=not norm, kernel_init=WEIGHT_INIT, name=f"conv_{i}")(h)
            if norm:
                h = _batch_norm(train, f"bn_{i}")(h)
            h = nn.leaky_relu(h, 0.2)
        h = h.reshape(h.shape[0], -1)
        return nn.Dense(1, kernel_init=WEIGHT_INIT, name="logit")(h)[:, 0]
