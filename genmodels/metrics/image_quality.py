"""Full-reference image quality: PSNR and MS-SSIM (Wang, Simoncelli & Bovik 2003).

Both take two batches of NHWC images (uint8 or float, same shape, values on the scale
[0, max_val]) and return one value per image, float32 [B]. Both are jnp and jittable.

MS-SSIM. With a Gaussian window (11x11, sigma 1.5) giving local means mu, variances sigma^2 and
covariance sigma_xy, C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = max_val:

  l(x, y)  = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
  cs(x, y) = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2)
  MS-SSIM  = prod_{j<S} mean(cs_j)^{w_j}  *  mean(l_S cs_S)^{w_S}    (j = 1..S, w_S the last)

mean() is over the valid (unpadded) window positions, per channel; scale j+1 is scale j average-
pooled 2x2 (an odd last row/column dropped); weights w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
for S = 5. As in TensorFlow's `ssim_multiscale`, negative per-scale means are clipped to 0 before
the power, and the per-channel MS-SSIMs are averaged over channels at the end.

Small images (`ms_ssim_scales`): the window is min(filter_size, H, W) pixels (sigma unchanged);
the scales used are the first S <= 5 whose image is at least the window in both dimensions; the
weights of those scales are renormalised to sum to 1. A 64x64 image uses an 11-px window and 3
scales (64, 32, 16); 16x16 patches an 11-px window and 1 scale; 8x8 digits an 8-px window and 1
scale, where MS-SSIM is the single-scale SSIM. Images smaller than MIN_FILTER_SIZE = 3 px have no
usable scale: ValueError.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MIN_FILTER_SIZE = 3
K1, K2 = 0.01, 0.03


def _check_pair(x, y):
    if x.ndim != 4 or x.shape != y.shape:
        raise ValueError(f"expected two NHWC batches of the same shape, got {x.shape} and "
                         f"{y.shape}")


def psnr(x, y, max_val: float = 255.0) -> jax.Array:
    """Peak signal-to-noise ratio per image, float32 [B]: 10 log10(max_val^2 / MSE(x, y)).

    MSE is over all pixels and channels of an image. Identical images (MSE = 0) give +inf;
    callers averaging over a batch must decide what to do with them (e.g. report their count).
    """
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    _check_pair(x, y)
    mse = jnp.mean(jnp.square(x - y), axis=(1, 2, 3))
    return 10.0 * jnp.log10(jnp.square(jnp.float32(max_val)) / mse)


def ms_ssim_scales(height: int, width: int, filter_size: int = 11,
                   weights: tuple[float, ...] = MS_SSIM_WEIGHTS) -> tuple[int, tuple[float, ...]]:
    """(window size, renormalised weights of the scales used) for height x width images.

    The window is min(filter_size, height, width); the scales are the first len(weights) or
    fewer whose (2x2-pooled) image is at least the window in both dimensions; with fewer scales
    than weights, the weights used are renormalised to sum to 1.
    """
    window = min(filter_size, height, width)
    if window < MIN_FILTER_SIZE:
        raise ValueError(f"MS-SSIM needs images of at least {MIN_FILTER_SIZE}x{MIN_FILTER_SIZE} "
                         f"pixels for one scale; got {height}x{width}")
    num_scales = 0
    while (num_scales < len(weights) and min(height >> num_scales, width >> num_scales)
           >= window):
        num_scales += 1
    if num_scales == len(weights):
        return window, tuple(weights)  # the standard weights as published (they sum to 0.9999)
    used = np.asarray(weights[:num_scales], np.float64)
    return window, tuple(float(w) for w in used / used.sum())


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2
    window = np.exp(-offsets**2 / (2 * sigma**2))
    return window / window.sum()


def _valid_filter_matrix(length: int, window: np.ndarray) -> np.ndarray:
    """[length - w + 1, length] matrix T with (T v)_i = sum_k window_k v_{i + k} ('valid')."""
    rows = length - len(window) + 1
    matrix = np.zeros((rows, length), np.float32)
    for i in range(rows):
        matrix[i, i:i + len(window)] = window
    return matrix


def _blur(images, window: np.ndarray):
    """Separable 'valid' Gaussian filtering of NHWC images."""
    along_h = _valid_filter_matrix(images.shape[1], window)
    along_w = _valid_filter_matrix(images.shape[2], window)
    highest = jax.lax.Precision.HIGHEST
    out = jnp.einsum("ph,bhwc->bpwc", along_h, images, precision=highest)
    return jnp.einsum("qw,bpwc->bpqc", along_w, out, precision=highest)


def _ssim_terms(x, y, window: np.ndarray, max_val):
    """(mean l * cs, mean cs) per image and channel [B, C] at one scale."""
    c1, c2 = (K1 * max_val) ** 2, (K2 * max_val) ** 2
    mu_x, mu_y = _blur(x, window), _blur(y, window)
    var_x = _blur(x * x, window) - mu_x**2
    var_y = _blur(y * y, window) - mu_y**2
    cov = _blur(x * y, window) - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    contrast_structure = (2 * cov + c2) / (var_x + var_y + c2)
    return (jnp.mean(luminance * contrast_structure, axis=(1, 2)),
            jnp.mean(contrast_structure, axis=(1, 2)))


def _pool2(images):
    b, h, w, c = images.shape
    cropped = images[:, :h // 2 * 2, :w // 2 * 2]
    return cropped.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


@functools.partial(jax.jit, static_argnames=("filter_size", "filter_sigma", "weights"))
def ms_ssim(x, y, max_val: float = 255.0, *, filter_size: int = 11, filter_sigma: float = 1.5,
            weights: tuple[float, ...] = MS_SSIM_WEIGHTS) -> jax.Array:
    """Multi-scale SSIM per image, float32 [B] (Wang et al. 2003; 1 for identical images).

    Small images use fewer scales and a smaller window: see `ms_ssim_scales` and the module
    docstring. `weights` (one per scale, finest first) must be a tuple (it is static).
    """
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    _check_pair(x, y)
    size, used = ms_ssim_scales(x.shape[1], x.shape[2], filter_size, weights)
    window = _gaussian_window(size, filter_sigma)
    log_ms_ssim = 0.0
    for scale, weight in enumerate(used):
        if scale:
            x, y = _pool2(x), _pool2(y)
        ssim, cs = _ssim_terms(x, y, window, max_val)
        value = ssim if scale == len(used) - 1 else cs
        log_ms_ssim = log_ms_ssim + weight * jnp.log(jnp.maximum(value, 0.0))
    return jnp.mean(jnp.exp(log_ms_ssim), axis=-1)
