"""Small convolutional encoder/decoder for VAEs and autoencoders (swish activations, no norm)."""
from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from genmodels.nn import upsample_conv
from genmodels.nn.spectral import SpectralNorm


def check_divisible(image_shape, num_stages: int, field: str = "model.features") -> None:
    """ValueError unless H and W are divisible by 2^num_stages (num_stages stride-2 stages)."""
    h, w = image_shape[0], image_shape[1]
    factor = 2**num_stages
    if h % factor or w % factor:
        raise ValueError(
            f"image {h}x{w} is not divisible by 2^{num_stages} = {factor}, the resampling factor "
            f"of {num_stages} stride-2 stages; use fewer entries in {field} or change "
            "data.image_size")


class ConvEncoder(nn.Module):
    """x [B, H, W, C] in [-1, 1] -> (mean [B, Z], log_scale [B, Z]) of a diagonal Gaussian q(z|x).

    One stride-2 4x4 conv per entry of `features`, then Dense(dense) and a Dense to 2 * Z.
    `deterministic=True` (autoencoders) ends in a Dense to Z and returns the code z [B, Z].
    `train` is accepted for a uniform signature.
    """

    latent_dim: int
    features: Sequence[int] = (32, 64)
    dense: int = 256
    deterministic: bool = False

    @nn.compact
    def __call__(self, x, train: bool):
        check_divisible(x.shape[1:], len(self.features))
        h = x
        for f in self.features:
            h = nn.swish(nn.Conv(f, (4, 4), (2, 2), padding="SAME")(h))
        h = nn.swish(nn.Dense(self.dense)(h.reshape(h.shape[0], -1)))
        if self.deterministic:
            return nn.Dense(self.latent_dim)(h)
        mean, log_scale = jnp.split(nn.Dense(2 * self.latent_dim)(h), 2, axis=-1)
        return mean, log_scale


class ConvDecoder(nn.Module):
    """z [B, Z] -> [B, H, W, out_channels] un-squashed outputs (likelihood parameters).

    Dense(dense) -> Dense to (H / 2^k, W / 2^k, features[0]) -> k stride-2 4x4 upsampling convs
    with features[i] outputs (k = len(features)) -> 3x3 conv to out_channels.
    `spectral_norm=n > 0` wraps every layer in `SpectralNorm` with n power-iteration steps per
    train call (RAE-SN; vectors in the "spectral" collection, updated only when `train` and the
    collection is mutable); 0 (the default) leaves the layers and their parameter names as is.
    """

    image_shape: tuple[int, int, int]
    out_channels: int
    features: Sequence[int] = (64, 32)
    dense: int = 256
    upsample: str = "subpixel"
    spectral_norm: int = 0

    @nn.compact
    def __call__(self, z, train: bool):
        k = len(self.features)
        check_divisible(self.image_shape, k)
        h0, w0 = self.image_shape[0] // 2**k, self.image_shape[1] // 2**k
        if not self.spectral_norm:  # The original layers, names and parameter tree.
            h = nn.swish(nn.Dense(self.dense)(z))
            h = nn.swish(nn.Dense(h0 * w0 * self.features[0])(h))
            h = h.reshape(z.shape[0], h0, w0, self.features[0])
            for i, f in enumerate(self.features):
                h = nn.swish(upsample_conv(self.upsample, f, name=f"up_{i}")(h))
            return nn.Conv(self.out_channels, (3, 3), padding="SAME", name="out")(h)

        def sn(layer, name, x):
            return SpectralNorm(layer, self.spectral_norm, name=name)(x, train)

        h = nn.swish(sn(nn.Dense(self.dense, parent=None), "Dense_0", z))
        h = nn.swish(sn(nn.Dense(h0 * w0 * self.features[0], parent=None), "Dense_1", h))
        h = h.reshape(z.shape[0], h0, w0, self.features[0])
        for i, f in enumerate(self.features):
            h = nn.swish(sn(upsample_conv(self.upsample, f, parent=None), f"up_{i}", h))
        return sn(nn.Conv(self.out_channels, (3, 3), padding="SAME", parent=None), "out", h)
