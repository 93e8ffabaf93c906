"""Convolution helpers: sub-pixel upsampling and depth/space rearrangements (NHWC).

`SubPixelConvTranspose` computes exactly what `flax.linen.ConvTranspose(padding="SAME")` computes,
with the same parameters, but as one ordinary stride-1 convolution followed by depth-to-space
(Shi et al. 2016, "Real-time single image and video super-resolution using an efficient sub-pixel
CNN"). On XLA:CPU the weight gradient of a transposed convolution is far slower than that of an
ordinary convolution; here every gradient flows through ordinary convolutions plus a gather on
the (small) kernel.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
from flax.linen.dtypes import promote_dtype
from jax import lax

Array = Any
UPSAMPLE_KINDS = ("subpixel", "transpose")


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def depth_to_space(x: Array, block: int | Sequence[int]) -> Array:
    """[B, H, W, bh*bw*C] -> [B, H*bh, W*bw, C]; channel (i*bw + j)*C + c goes to offset (i, j).

    Same channel order as `tf.nn.depth_to_space` (DCR) and the inverse of `space_to_depth`.
    """
    bh, bw = _pair(block)
    b, h, w, c = x.shape
    if c % (bh * bw):
        raise ValueError(f"depth_to_space: {c} channels not divisible by block {bh}x{bw}")
    x = x.reshape(b, h, w, bh, bw, c // (bh * bw))
    x = x.transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * bh, w * bw, c // (bh * bw))


def space_to_depth(x: Array, block: int | Sequence[int]) -> Array:
    """[B, H*bh, W*bw, C] -> [B, H, W, bh*bw*C]; the inverse of `depth_to_space`."""
    bh, bw = _pair(block)
    b, h, w, c = x.shape
    if h % bh or w % bw:
        raise ValueError(f"space_to_depth: spatial shape {h}x{w} not divisible by block {bh}x{bw}")
    x = x.reshape(b, h // bh, bh, w // bw, bw, c)
    x = x.transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h // bh, w // bw, bh * bw * c)


def conv_transpose_same_padding(k: int, s: int) -> tuple[int, int]:
    """(before, after) padding that `lax.conv_transpose(padding="SAME")` puts on the dilated input.

    The transposed conv is a stride-1 conv (no kernel flip) over the input dilated by `s`, padded
    by `pad_len = k + s - 2` split as `before = k - 1` if `s > k - 1` else `ceil(pad_len / 2)`;
    its output length is `n * s`.
    """
    pad_len = k + s - 2
    before = k - 1 if s > k - 1 else -(-pad_len // 2)
    return before, pad_len - before


def subpixel_taps(k: int, s: int) -> tuple[np.ndarray, int, int]:
    """Which kernel tap feeds which output phase and input offset, along one spatial axis.

    With `before` from `conv_transpose_same_padding`, the transposed conv gives
        y[s*m + p] = sum_{t : (p + t - before) % s == 0} w[t] * x[m + (p + t - before) // s].
    Returns `(index, pad_lo, pad_hi)`: a stride-1 conv with padding `(pad_lo, pad_hi)` and kernel
    `w[index[j, p]]` (index k meaning "no tap": zero) gives phase p of the output at offset j.
    """
    if k < 1 or s < 1:
        raise ValueError(f"kernel size and stride must be >= 1; got kernel {k}, stride {s}")
    before, _ = conv_transpose_same_padding(k, s)
    taps = [(p, t, (p + t - before) // s) for p in range(s) for t in range(k)
            if (p + t - before) % s == 0]
    d_min = min(d for _, _, d in taps)
    d_max = max(d for _, _, d in taps)
    index = np.full((d_max - d_min + 1, s), k, dtype=np.int32)
    for p, t, d in taps:
        index[d - d_min, p] = t
    return index, -d_min, d_max


def subpixel_kernel(kernel: Array, strides: Sequence[int]) -> tuple[Array, list[tuple[int, int]]]:
    """Rearranges a ConvTranspose kernel [kh, kw, Cin, Cout] into a stride-1 conv kernel.

    Returns the kernel [kh', kw', Cin, sh*sw*Cout] (output channel (ph*sw + pw)*Cout + c is output
    phase (ph, pw) of channel c, zero where the phase has no tap) and the conv padding.
    """
    kh, kw, cin, cout = kernel.shape
    (sh, sw) = strides
    index_h, lo_h, hi_h = subpixel_taps(kh, sh)
    index_w, lo_w, hi_w = subpixel_taps(kw, sw)
    padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # tap k (zero) = "no tap"
    # [kh', sh, kw', sw, Cin, Cout]
    gathered = padded[index_h[:, :, None, None], index_w[None, None, :, :]]
    gathered = gathered.transpose(0, 2, 4, 1, 3, 5)  # [kh', kw', Cin, sh, sw, Cout]
    gathered = gathered.reshape(index_h.shape[0], index_w.shape[0], cin, sh * sw * cout)
    return gathered, [(lo_h, hi_h), (lo_w, hi_w)]


class SubPixelConvTranspose(nn.Module):
    """2-D transposed convolution computed as a stride-1 convolution plus depth-to-space.

    Equivalence: for NHWC input, `SubPixelConvTranspose(f, k, s)` with parameters {'kernel':
    [kh, kw, Cin, f], 'bias': [f]} returns exactly `nn.ConvTranspose(f, k, s, padding="SAME")`
    with the same parameters (same names, shapes and initialisers, so checkpoints are
    interchangeable), for any kernel size and stride. Output shape [B, H*sh, W*sw, f].
    """

    features: int
    kernel_size: int | Sequence[int] = (4, 4)
    strides: int | Sequence[int] = (2, 2)
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    dtype: Any = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if x.ndim != 4:
            raise ValueError(f"SubPixelConvTranspose expects NHWC input; got shape {x.shape}")
        kh, kw = _pair(self.kernel_size)
        strides = _pair(self.strides)
        kernel = self.param("kernel", self.kernel_init, (kh, kw, x.shape[-1], self.features),
                            self.param_dtype)
        bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
                if self.use_bias else None)
        x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
        conv_kernel, padding = subpixel_kernel(kernel, strides)
        y = lax.conv_general_dilated(x, conv_kernel, window_strides=(1, 1), padding=padding,
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        y = depth_to_space(y, strides)
        return y if bias is None else y + bias


def check_upsample_kind(kind: str, field: str = "model.upsample") -> None:
    """Raises a ValueError naming the config field for an unknown upsampling kind."""
    if kind not in UPSAMPLE_KINDS:
        raise ValueError(f"Unknown upsampling kind {kind!r} ({field}); valid: "
                         f"{', '.join(UPSAMPLE_KINDS)}.")


def upsample_conv(kind: str, features: int, kernel_size: Sequence[int] = (4, 4),
                  strides: Sequence[int] = (2, 2), **kw) -> nn.Module:
    """An upsampling conv layer: "subpixel" (`SubPixelConvTranspose`) or "transpose"
    (`nn.ConvTranspose(padding="SAME")`); both compute the same function with the same params."""
    if kind == "subpixel":
        return SubPixelConvTranspose(features, kernel_size, strides, **kw)
    if kind == "transpose":
        return nn.ConvTranspose(features, kernel_size, strides, padding="SAME", **kw)
    check_upsample_kind(kind)
