"""Shifted convolutions for autoregressive image models (PixelCNN++, Salimans et al. 2017).

Instead of masking kernels, PixelCNN++ pads inputs so that a convolution only sees the past:
  down-shifted        (kernel kh x kw): output (r, c) sees input rows r-kh+1..r, cols c±(kw-1)/2,
  down-right-shifted  (kernel kh x kw): output (r, c) sees rows r-kh+1..r, cols c-kw+1..c.
Followed by `down_shift` (one row) or `right_shift` (one column) at the input layer, they give
the two streams of PixelCNN++: the "down" stream u[r, c] depends on image rows < r only, the
"down-right" stream ul[r, c] on rows < r and on row r left of c. Stride-2 versions halve the
resolution and the transposed versions double it while keeping both properties (the feature at a
low-resolution position (R, C) depends only on what precedes the full-resolution pixel (2R, 2C)).
"""

import flax.linen as nn
import jax.numpy as jnp
from jax import lax


def down_shift(x):
    """x [B, H, W, C] shifted down one row (zeros on top): out[r] = x[r - 1]."""
    return jnp.pad(x, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]


def right_shift(x):
    """x [B, H, W, C] shifted right one column (zeros on the left): out[:, c] = x[:, c - 1]."""
    return jnp.pad(x, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :-1]


def _left_pad(kw: int, right: bool) -> int:
    """Columns padded on the left: all kw - 1 for down-right, half for down (centred)."""
    return kw - 1 if right else (kw - 1) // 2


class ShiftedConv(nn.Module):
    """Down-shifted (right=False, centred columns) or down-right-shifted (right=True) conv.

    Pads kh - 1 rows on top and the columns so that no output sees a lower row (or, for
    right=True, a column to its right), then a VALID conv with `strides` (1 or 2).
    """

    features: int
    kernel_size: tuple[int, int] = (2, 3)
    right: bool = False
    strides: int = 1
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x):
        kh, kw = self.kernel_size
        left = _left_pad(kw, self.right)
        x = jnp.pad(x, ((0, 0), (kh - 1, 0), (left, kw - 1 - left), (0, 0)))
        return nn.Conv(self.features, (kh, kw), strides=self.strides, padding="VALID",
                       kernel_init=self.kernel_init, name="conv")(x)


class ShiftedConvTranspose(nn.Module):
    """Stride-s transposed conv that keeps the shift: out[s R + i, s C + j - left] += in[R, C] W.

    i in 0..kh-1, j in 0..kw-1; left = (kw - 1) // 2 for the down stream, 0 for down-right (the
    TensorFlow 'VALID' deconv of PixelCNN++ cropped to s H x s W). A low-resolution feature
    therefore only reaches full-resolution pixels at or below (and, for right=True, at or right
    of) the pixel (s R, s C) that it summarises.
    """

    features: int
    kernel_size: tuple[int, int] = (2, 3)
    right: bool = False
    strides: int = 2

    @nn.compact
    def __call__(self, x):
        kh, kw = self.kernel_size
        s = self.strides
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (kh, kw, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        # Full correlation of the s-dilated input: out[s R + (kh-1) - i] += in[R] K[i], so the
        # taps land on rows s R .. s R + kh - 1 (the kernel flip is immaterial for learning).
        y = lax.conv_general_dilated(x, kernel, (1, 1), ((kh - 1, kh - 1), (kw - 1, kw - 1)),
                                     lhs_dilation=(s, s),
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        left = 0 if self.right else (kw - 1) // 2
        h, w = s * x.shape[1], s * x.shape[2]
        return y[:, :h, left:left + w] + bias
