"""SNGAN ResNet generator and discriminator (Miyato, Kataoka, Koyama, Yoshida 2018, appendix B,
CIFAR-10 / STL-10 ResNets), with the class-conditional variants of Miyato & Koyama 2018 ("cGANs
with projection discriminator"): conditional batch norm in G, projection in D.

G: z -> Dense -> [b, b, w0] -> up-blocks -> BN -> ReLU -> 3x3 conv -> tanh. Up-block: BN -> ReLU
-> nearest x2 -> 3x3 conv -> BN -> ReLU -> 3x3 conv, plus a 1x1 conv of the upsampled input.
D: optimised first block, down-blocks (ReLU -> 3x3 conv -> ReLU -> 3x3 conv -> 2x2 average pool,
plus 1x1 conv then pool on the shortcut) and plain blocks, ReLU, global *sum* pooling, dense to
1; every conv/dense (and the projection embedding) spectrally normalised.

Layouts (w = widths, with the defaults G base_features=256 and D base_features=128 these are the
published ones; other bases scale every width):
  16px  G: 4x4x256, up 256, up 256                    D: 128 down, 128 down, 128, 128
  32px  G: 4x4x256, up 256, up 256, up 256            D: 128 down, 128 down, 128, 128
  48px  G: 6x6x512, up 256, up 128, up 64             D: 64 down, 128 down, 256 down, 512 down, 1024
  64px  G: 4x4x1024, up 512, up 256, up 128, up 64    D: 64 down, 128 down, 256 down, 512 down,
                                                         1024 down
(32px: SNGAN CIFAR-10; 48px: SNGAN STL-10; 64px: the projection-discriminator 64x64 ResNets;
16px, not in the papers: the CIFAR-10 ResNets with one G up-block fewer, for `patches`.)

Choices from the reference (chainer) code that the papers leave open: Glorot-uniform inits with
gain sqrt(2) on the residual 3x3 convs and gain 1 elsewhere (shortcuts, dense, output conv,
embeddings); biases everywhere (zero init); D-block hidden width = input width; G's final batch
norm stays unconditional; batch norm momentum 0.9, epsilon 2e-5 (chainer's defaults).
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from genmodels.nn.minibatch import MinibatchStddev
from genmodels.nn.spectral import SpectralNorm

RESIDUAL_INIT = nn.initializers.variance_scaling(2.0, "fan_avg", "uniform")  # Glorot, gain sqrt 2
LINEAR_INIT = nn.initializers.xavier_uniform()  # Glorot, gain 1
BN_MOMENTUM, BN_EPSILON = 0.9, 2e-5

# side -> (G bottom width, G widths in quarters of base [map, block outputs...],
#          D widths in halves of base, D downsample flags)
_LAYOUTS = {
    16: (4, (4, 4, 4), (2, 2, 2, 2), (True, True, False, False)),
    32: (4, (4, 4, 4, 4), (2, 2, 2, 2), (True, True, False, False)),
    48: (6, (8, 4, 2, 1), (1, 2, 4, 8, 16), (True, True, True, True, False)),
    64: (4, (16, 8, 4, 2, 1), (1, 2, 4, 8, 16), (True, True, True, True, True)),
}
SNGAN_IMAGE_SIZES = tuple(_LAYOUTS)


def sngan_check_image_shape(image_shape) -> int:
    """The image side (16, 32, 48 or 64); ValueError naming data.image_size otherwise."""
    h, w = image_shape[0], image_shape[1]
    if h != w or h not in _LAYOUTS:
        raise ValueError(
            f"SNGAN: images must be square with side {', '.join(map(str, SNGAN_IMAGE_SIZES))}; "
            f"got {h}x{w}; set data.image_size to one of these sizes")
    return h


def _width(base: int, num: int, den: int) -> int:
    return max(1, base * num // den)


def _check_labels(num_classes, labels, who: str):
    if num_classes is None and labels is not None:
        raise ValueError(f"{who}: labels given but num_classes is None (unconditional model)")
    if num_classes is not None and labels is None:
        raise ValueError(f"{who}: num_classes={num_classes} needs integer labels [B]")


def _upsample(x):
    """Nearest-neighbour x2 (NHWC)."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _avg_pool(x):
    return nn.avg_pool(x, (2, 2), (2, 2))


class ConditionalBatchNorm(nn.Module):
    """Batch norm without its own affine, then per-class gamma[y], beta[y] (Dumoulin et al. 2017;
    de Vries et al. 2017); embeddings gamma initialised to 1, beta to 0. x [B, ..., C], y [B]."""

    num_classes: int
    momentum: float = BN_MOMENTUM
    epsilon: float = BN_EPSILON

    @nn.compact
    def __call__(self, x, train: bool, labels):
        h = nn.BatchNorm(use_running_average=not train, momentum=self.momentum,
                         epsilon=self.epsilon, use_scale=False, use_bias=False, name="bn")(x)
        c = x.shape[-1]
        gamma = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.ones_init(),
                         name="gamma")(labels)
        beta = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros_init(),
                        name="beta")(labels)
        shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (c,)
        return h * gamma.reshape(shape) + beta.reshape(shape)


def _batch_norm(num_classes, name):
    """f(x, train, labels): batch norm, conditional when num_classes is set."""
    if num_classes is None:
        bn = nn.BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)
        return lambda x, train, labels: bn(x, use_running_average=not train)
    cbn = ConditionalBatchNorm(num_classes, name=name)
    return lambda x, train, labels: cbn(x, train, labels)


class SNGANGeneratorBlock(nn.Module):
    """Residual up-block: (C)BN -> ReLU -> up x2 -> conv3 -> (C)BN -> ReLU -> conv3, plus
    conv1(up x) on the shortcut."""

    features: int
    num_classes: int | None = None

    @nn.compact
    def __call__(self, x, train: bool, labels=None):
        h = nn.relu(_batch_norm(self.num_classes, "bn_1")(x, train, labels))
        h = nn.Conv(self.features, (3, 3), padding="SAME", kernel_init=RESIDUAL_INIT,
                    name="conv_1")(_upsample(h))
        h = nn.relu(_batch_norm(self.num_classes, "bn_2")(h, train, labels))
        h = nn.Conv(self.features, (3, 3), padding="SAME", kernel_init=RESIDUAL_INIT,
                    name="conv_2")(h)
        shortcut = nn.Conv(self.features, (1, 1), kernel_init=LINEAR_INIT,
                           name="shortcut")(_upsample(x))
        return h + shortcut


class SNGANGenerator(nn.Module):
    """z [B, Z] (and int labels [B] when num_classes is set) -> images [B, H, W, C] in [-1, 1].

    H = W in (16, 32, 48, 64); the latent size is whatever z has (128 in the paper).
    """

    image_shape: tuple[int, int, int]
    base_features: int = 256
    num_classes: int | None = None

    @nn.compact
    def __call__(self, z, train: bool, labels=None):
        side = sngan_check_image_shape(self.image_shape)
        _check_labels(self.num_classes, labels, "SNGANGenerator")
        bottom, quarters, _, _ = _LAYOUTS[side]
        widths = [_width(self.base_features, q, 4) for q in quarters]
        h = nn.Dense(bottom * bottom * widths[0], kernel_init=LINEAR_INIT, name="dense")(z)
        h = h.reshape(z.shape[0], bottom, bottom, widths[0])
        for i, features in enumerate(widths[1:]):
            h = SNGANGeneratorBlock(features, self.num_classes, name=f"block_{i}")(h, train, labels)
        h = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                         name="bn")(h)
        h = nn.Conv(self.image_shape[2], (3, 3), padding="SAME", kernel_init=LINEAR_INIT,
                    name="conv_out")(nn.relu(h))
        return jnp.tanh(h)


def _conv(features, kernel, init, n_power_iterations, name):
    """A (spectrally normalised) SAME conv, called as f(x, train)."""
    layer = nn.Conv(features, (kernel, kernel), padding="SAME", kernel_init=init, parent=None)
    return SpectralNorm(layer, n_power_iterations, name=name)


class SNGANDiscriminatorBlock(nn.Module):
    """Residual block: ReLU -> conv3 -> ReLU -> conv3 (-> avg pool), + shortcut; the shortcut is
    conv1 (-> avg pool) when the width changes or the block downsamples, else the identity.
    `optimized=True` is the first block of D: conv3 -> ReLU -> conv3 -> avg pool, + conv1(pool x)
    (no leading ReLU on the image)."""

    features: int
    downsample: bool = True
    optimized: bool = False
    n_power_iterations: int = 1  # 0: no spectral norm

    @nn.compact
    def __call__(self, x, train: bool):
        n = self.n_power_iterations
        if self.optimized:
            h = _conv(self.features, 3, RESIDUAL_INIT, n, "conv_1")(x, train)
            h = _conv(self.features, 3, RESIDUAL_INIT, n, "conv_2")(nn.relu(h), train)
            return _avg_pool(h) + _conv(self.features, 1, LINEAR_INIT, n, "shortcut")(
                _avg_pool(x), train)
        h = _conv(x.shape[-1], 3, RESIDUAL_INIT, n, "conv_1")(nn.relu(x), train)
        h = _conv(self.features, 3, RESIDUAL_INIT, n, "conv_2")(nn.relu(h), train)
        shortcut = x
        if self.downsample or x.shape[-1] != self.features:
            shortcut = _conv(self.features, 1, LINEAR_INIT, n, "shortcut")(x, train)
        if self.downsample:
            h, shortcut = _avg_pool(h), _avg_pool(shortcut)
        return h + shortcut


class SNGANDiscriminator(nn.Module):
    """Images [B, H, W, C] in [-1, 1] (and int labels [B] when num_classes is set) -> logits [B].

    logits = dense(h) (+ sum(embed(y) * h) with num_classes: the projection discriminator), with h
    the globally sum-pooled ReLU features. `spectral_norm=False` keeps the same parameter tree
    without normalising (and without a "spectral" collection). `stddev_group` (None = off; 0 =
    whole batch) inserts `MinibatchStddev` before the last block.
    """

    base_features: int = 128
    num_classes: int | None = None
    spectral_norm: bool = True
    stddev_group: int | None = None

    @nn.compact
    def __call__(self, x, train: bool, labels=None):
        side = sngan_check_image_shape(x.shape[1:])
        _check_labels(self.num_classes, labels, "SNGANDiscriminator")
        _, _, halves, downs = _LAYOUTS[side]
        n = 1 if self.spectral_norm else 0
        h = x
        for i, (q, down) in enumerate(zip(halves, downs)):
            if self.stddev_group is not None and i == len(halves) - 1:
                h = MinibatchStddev(self.stddev_group, name="stddev")(h, train)
            h = SNGANDiscriminatorBlock(_width(self.base_features, q, 2), down, i == 0, n,
                                        name=f"block_{i}")(h, train)
        h = jnp.sum(nn.relu(h), axis=(1, 2))  # global sum pooling
        dense = nn.Dense(1, kernel_init=LINEAR_INIT, parent=None)
        logits = SpectralNorm(dense, n, name="dense")(h, train)[:, 0]
        if self.num_classes is not None:
            embed = nn.Embed(self.num_classes, h.shape[-1], embedding_init=LINEAR_INIT,
                             parent=None)
            logits = logits + jnp.sum(SpectralNorm(embed, n, name="embed")(labels, train) * h,
                                      axis=-1)
        return logits
