"""The per-pixel histogram baseline against closed forms."""

import math

import numpy as np
import pytest

from genmodels.data import datasets
from genmodels.metrics import baselines, histogram_bpd
from configs import default


def test_uniform_training_counts_give_exactly_8_bits():
    train = np.tile(np.arange(256, dtype=np.uint8)[:, None, None, None], (1, 2, 2, 3))
    test = np.random.default_rng(0).integers(0, 256, (7, 2, 2, 3)).astype(np.uint8)
    assert histogram_bpd(train, test) == pytest.approx(8.0, abs=1e-12)


def test_matches_a_hand_count_with_laplace_smoothing():
    # One sub-pixel, train values [0, 0, 1]: p(0) = 3/259, p(1) = 2/259, p(5) = 1/259.
    train = np.array([0, 0, 1], np.uint8)[:, None]
    test = np.array([0, 1, 5], np.uint8)[:, None]
    expected = -np.mean(np.log2([3 / 259, 2 / 259, 1 / 259]))
    assert histogram_bpd(train, test) == pytest.approx(expected, rel=1e-12)
    # A dependent second sub-pixel is still scored independently: bits/dim average over d.
    both = np.concatenate([train, train], 1), np.concatenate([test, test], 1)
    assert histogram_bpd(*both) == pytest.approx(expected, rel=1e-12)


def test_a_constant_image_is_nearly_free_and_errors_name_the_problem():
    train = np.full((1000, 3), 7, np.uint8)
    assert histogram_bpd(train, train[:5]) == pytest.approx(-math.log2(1001 / 1256))
    with pytest.raises(ValueError, match="uint8"):
        histogram_bpd(train.astype(np.float32), train)
    with pytest.raises(ValueError, match="shape"):
        histogram_bpd(train, train[:, :2])


def test_digits_baseline_is_below_8_bits():
    c = default.base_config().data
    c.name = "digits"
    train = baselines.split_images(datasets.get_source(c, "train"))
    test = baselines.split_images(datasets.get_source(c, "test"))
    assert train.shape[1:] == (8, 8, 1) and len(test) == 297
    assert 1.0 < histogram_bpd(train, test) < 4.0
