"""PSNR and MS-SSIM (Wang et al. 2003) on NHWC images, with the small-image scale rule."""

import jax
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from genmodels.metrics.image_quality import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_scales, psnr


def _images(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _noisy(x, sigma, seed=1):
    noise = np.random.default_rng(seed).normal(0, sigma, x.shape)
    return np.clip(np.round(x + noise), 0, 255).astype(np.uint8)


def test_psnr_of_a_constant_offset_is_the_closed_form():
    x = _images((3, 8, 8, 3)) // 2  # <= 127, so x + 9 does not saturate
    np.testing.assert_allclose(psnr(x, x + 9), 20 * np.log10(255 / 9), rtol=1e-6)
    floats = x / 255.0
    np.testing.assert_allclose(psnr(floats, floats + 0.1, max_val=1.0), 20.0, rtol=1e-5)
    # An error on one pixel of one image: MSE = e^2 / (H W C).
    y = x.copy()
    y[1, 2, 3, 0] += 16
    expected = 10 * np.log10(255**2 / (16**2 / (8 * 8 * 3)))
    result = np.asarray(jax.jit(psnr)(x, y))
    np.testing.assert_allclose(result[1], expected, rtol=1e-6)
    assert np.all(np.isinf(result[[0, 2]]))


def test_psnr_of_identical_images_is_inf():
    x = _images((2, 16, 16, 3))
    assert np.all(np.asarray(psnr(x, x)) == np.inf)


def test_ms_ssim_of_identical_images_is_one():
    for shape in ((2, 8, 8, 1), (2, 16, 16, 3), (2, 64, 64, 3), (1, 176, 176, 1)):
        x = _images(shape)
        np.testing.assert_allclose(ms_ssim(x, x), 1.0, atol=1e-5, err_msg=str(shape))


def test_ms_ssim_decreases_with_noise():
    for shape in ((4, 8, 8, 1), (4, 16, 16, 3), (4, 64, 64, 3)):
        x = _images(shape)
        values = np.stack([ms_ssim(x, _noisy(x, sigma)) for sigma in (2, 10, 30, 80)])
        assert np.all(np.diff(values, axis=0) < 0), (shape, values)
        assert np.all(values > 0) and np.all(values < 1)


def test_ms_ssim_is_symmetric_and_per_image():
    x, y = _images((3, 64, 64, 3)), _noisy(_images((3, 64, 64, 3)), 20)
    np.testing.assert_allclose(ms_ssim(x, y), ms_ssim(y, x), rtol=1e-6)
    np.testing.assert_allclose(ms_ssim(x[1:2], y[1:2]), ms_ssim(x, y)[1:2], rtol=1e-6)


def test_one_scale_is_skimage_ssim():
    # 16x16: an 11x11 window and a single scale, so MS-SSIM is SSIM with Gaussian weights.
    x = _images((3, 16, 16, 3))
    y = _noisy(x, 25)
    expected = [structural_similarity(a, b, data_range=255, channel_axis=-1, sigma=1.5,
                                      gaussian_weights=True, use_sample_covariance=False)
                for a, b in zip(x, y)]
    np.testing.assert_allclose(ms_ssim(x, y), expected, rtol=1e-5)


def _tf_pair():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (1, 24, 24, 3)).repeat(8, 1).repeat(8, 2).astype(np.float32)
    x = np.concatenate([base, base])
    noise = rng.normal(0, 1, x.shape).astype(np.float32) * np.array([10.0, 40.0])[:, None, None,
                                                                                 None]
    return x, np.round(np.clip(x + noise, 0, 255))


def test_five_scales_match_tensorflow():
    # Values of tf.image.ssim_multiscale(x, y, 255.0) (TensorFlow 2.21) on these 192x192 images,
    # and with power_factors=MS_SSIM_WEIGHTS[:3] on their 64x64 corners.
    x, y = _tf_pair()
    np.testing.assert_allclose(ms_ssim(x, y), [0.9943612, 0.95017177], rtol=2e-6)
    corners = ms_ssim(x[:, :64, :64], y[:, :64, :64], weights=MS_SSIM_WEIGHTS[:3])
    np.testing.assert_allclose(corners, [0.99392146, 0.9509282], rtol=2e-6)
    np.testing.assert_allclose(ms_ssim(x.astype(np.uint8), y.astype(np.uint8)), ms_ssim(x, y))


def test_small_image_rule():
    assert ms_ssim_scales(8, 8) == (8, (1.0,))
    assert ms_ssim_scales(16, 16) == (11, (1.0,))
    window, weights = ms_ssim_scales(64, 64)  # 64, 32, 16 >= 11; 8 < 11
    assert window == 11 and len(weights) == 3
    np.testing.assert_allclose(weights, np.array(MS_SSIM_WEIGHTS[:3]) / sum(MS_SSIM_WEIGHTS[:3]))
    assert ms_ssim_scales(176, 200) == (11, MS_SSIM_WEIGHTS)  # 176 / 16 = 11
    assert len(ms_ssim_scales(175, 200)[1]) == 4
    assert ms_ssim_scales(5, 40) == (5, (1.0,))
    with pytest.raises(ValueError, match="at least 3x3"):
        ms_ssim_scales(2, 64)
    with pytest.raises(ValueError, match="at least 3x3"):
        ms_ssim(_images((1, 2, 2, 1)), _images((1, 2, 2, 1)))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape"):
        ms_ssim(_images((1, 16, 16, 3)), _images((1, 16, 16, 1)))
    with pytest.raises(ValueError, match="NHWC"):
        psnr(_images((16, 16, 3)), _images((16, 16, 3)))
