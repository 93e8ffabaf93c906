"""Mode-coverage metrics on 2-D mixtures (VEEGAN/PacGAN protocol)."""

import numpy as np

from genmodels import data
from genmodels.metrics import mode_coverage
from ml_collections import ConfigDict


def _info(name):
    return data.get_info(ConfigDict({"name": name, "image_size": None, "tfds_data_dir": None}))


def test_samples_of_the_data_cover_every_mode_with_high_quality():
    for name, k in (("ring8", 8), ("grid25", 25)):
        info = _info(name)
        source = data.get_source(ConfigDict({"name": name, "image_size": None,
                                             "tfds_data_dir": None}), "test")
        x = source.read_batch(np.arange(2500))["x"]
        result = mode_coverage(x, info.modes, info.mode_std)
        assert result["modes"] == k
        # P(|N(0, I_2)| <= 3) = 1 - exp(-9/2) = 0.989.
        assert 0.97 < result["hq_fraction"] <= 1.0
        assert result["reverse_kl"] < 0.05
        assert result["modes_num_samples"] == 2500


def test_a_single_gaussian_covers_one_mode():
    info = _info("ring8")
    rng = np.random.default_rng(0)
    x = info.modes[3] + info.mode_std * rng.normal(size=(2500, 2))
    result = mode_coverage(x, info.modes, info.mode_std)
    assert result["modes"] == 1
    np.testing.assert_allclose(result["reverse_kl"], np.log(8), rtol=1e-12)


def test_reverse_kl_of_a_known_histogram_and_low_quality_samples():
    modes = np.array([[0.0, 0.0], [10.0, 0.0]])
    # Three samples on mode 0, one on mode 1, two far from both (low quality).
    x = np.array([[0, 0], [0, 0.01], [0.01, 0], [10, 0], [5, 5], [-5, 5]], np.float64)
    result = mode_coverage(x, modes, std=0.1)
    q = np.array([0.75, 0.25])
    np.testing.assert_allclose(result["reverse_kl"], np.sum(q * np.log(q * 2)))
    assert result["modes"] == 2
    np.testing.assert_allclose(result["hq_fraction"], 4 / 6)
    nothing = mode_coverage(np.array([[5.0, 5.0]]), modes, std=0.1)
    assert nothing["modes"] == 0 and nothing["reverse_kl"] == float("inf")
