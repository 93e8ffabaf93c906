"""Disentanglement scores (disentanglement_lib definitions) and the ground-truth datasets."""

import itertools

import numpy as np
import pytest

from genmodels.data import dsprites
from genmodels.metrics.disentanglement import (ArrayGroundTruth, DSpritesGroundTruth,
                                               beta_vae_score, dci, dci_from_importance,
                                               factor_codes, factorvae_score, mig, sap)

SIZES = (3, 4, 5)
FAST = {"batch_size": 16, "num_train": 300, "num_eval": 200}


def _grid(repeats=10, seed=0):
    """Every point of a 3 x 4 x 5 grid, `repeats` times, shuffled: independent factors."""
    grid = np.array(list(itertools.product(*map(range, SIZES))))
    factors = np.tile(grid, (repeats, 1))
    return factors[np.random.default_rng(seed).permutation(len(factors))]


def _noise(n, dim, seed=1):
    return np.random.default_rng(seed).normal(size=(n, dim))


def test_mig_is_one_for_continuous_copies_of_the_factors():
    factors = _grid(repeats=50)
    codes = factors * np.array([0.7, -2.0, 0.01]) + np.array([3.0, 0.0, -1.0])
    assert mig(codes, factors) == pytest.approx(1.0, abs=1e-12)
    # Noise latents carry a small plug-in MI bias, nothing more.
    assert mig(np.concatenate([codes, _noise(len(codes), 4)], 1), factors) > 0.97


def test_mig_is_zero_for_random_codes_and_for_a_duplicated_latent():
    factors = _grid(repeats=50)
    assert mig(_noise(len(factors), 6), factors) < 0.02
    # Two copies of factor 0: no gap for it; factors 1 and 2 keep a gap of 1.
    codes = np.stack([factors[:, 0], 2.0 * factors[:, 0], factors[:, 1], factors[:, 2]], 1)
    assert mig(codes, factors) == pytest.approx(2 / 3, abs=1e-12)


def test_mig_rejects_constant_factors():
    factors = _grid()
    factors[:, 1] = 0
    with pytest.raises(ValueError, match="constant"):
        mig(factors + 0.0, factors)


def test_sap_high_for_factor_codes_low_for_random():
    factors = _grid(repeats=20)
    codes = factors + 0.05 * _noise(*factors.shape)
    assert sap(codes, factors) > 0.4  # a 1-D linear SVM separates few values at once
    assert sap(_noise(*factors.shape), factors) < 0.05
    # Continuous factors: R^2 is 1 for the copy and 0 for the other (independent) factors.
    assert sap(2.0 * factors + 1.0, factors, continuous_factors=True) == pytest.approx(1.0)
    assert sap(_noise(*factors.shape), factors, continuous_factors=True) < 0.02


def test_sap_uses_the_given_test_set():
    factors = _grid(repeats=20)
    codes = factors + 0.05 * _noise(*factors.shape)
    # Test codes that are noise: every latent predicts at chance on them.
    scrambled = sap(codes, factors, codes_test=_noise(*factors.shape), factors_test=factors)
    assert scrambled < 0.1 < sap(codes, factors, codes_test=codes, factors_test=factors)
    with pytest.raises(ValueError, match="both"):
        sap(codes, factors, codes_test=codes)
    with pytest.raises(ValueError, match="do not match"):
        dci(codes, factors, codes_test=codes[:, :2], factors_test=factors)


def test_dci_of_known_importance_matrices():
    assert dci_from_importance(np.eye(3)) == pytest.approx((1.0, 1.0), abs=1e-8)
    assert dci_from_importance(np.eye(3)[[2, 0, 1]]) == pytest.approx((1.0, 1.0), abs=1e-8)
    assert dci_from_importance(np.ones((4, 3))) == pytest.approx((0.0, 0.0), abs=1e-8)
    # One latent explains every factor: not disentangled, but each factor is complete.
    one_for_all = np.array([[1.0, 1, 1], [0, 0, 0], [0, 0, 0]])
    assert dci_from_importance(one_for_all) == pytest.approx((0.0, 1.0), abs=1e-8)
    # Two latents share factor 0 equally: completeness of factor 0 is 1 - log3(2).
    split = np.array([[1.0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 2]])
    expected = (1 - np.log(2) / np.log(4)) * 2 / 6 + 2 / 3
    assert dci_from_importance(split) == pytest.approx((1.0, expected), abs=1e-8)


def test_dci_high_for_factor_codes_low_for_random():
    factors = _grid(repeats=10)
    codes = np.concatenate([factors + 0.05 * _noise(*factors.shape), _noise(len(factors), 2)], 1)
    good = dci(codes, factors, n_estimators=20)
    assert good["dci_disentanglement"] > 0.9 and good["dci_completeness"] > 0.9
    assert good["dci_informativeness"] > 0.95
    bad = dci(_noise(len(factors), 5), factors, n_estimators=20)
    assert bad["dci_disentanglement"] < 0.25 and bad["dci_completeness"] < 0.25
    assert bad["dci_informativeness"] < 0.45  # chance: (1/3 + 1/4 + 1/5) / 3 = 0.26


class _Recording:
    """A ground truth that remembers the factors of every image it renders: for an oracle encoder
    that returns the true factors of an image (the last rendering of those pixels)."""

    def __init__(self, inner):
        self.inner, self.factor_sizes, self.seen = inner, inner.factor_sizes, {}

    def sample_factors(self, n, rng):
        return self.inner.sample_factors(n, rng)

    def images(self, factors):
        images = self.inner.images(factors)
        self.seen.update((image.tobytes(), f) for image, f in zip(images, factors))
        return images

    def oracle(self, num_noise=2, extra=None):
        rng = np.random.default_rng(123)

        def encode(images):
            factors = np.stack([self.seen[image.tobytes()] for image in images]) + 0.0
            parts = [factors, rng.normal(size=(len(images), num_noise))]
            return np.concatenate(parts + ([extra(len(images))] if extra else []), axis=1)
        return encode


def _random_encoder(num_latents=7, seed=5):
    rng = np.random.default_rng(seed)
    return lambda images: rng.normal(size=(len(images), num_latents))


def test_dsprites_ground_truth_round_trips_factors():
    truth = DSpritesGroundTruth(32)
    assert truth.factor_sizes == (3, 6, 40, 32, 32)
    factors = truth.sample_factors(5000, np.random.default_rng(0))
    assert factors.min() == 0 and np.all(factors.max(0) == np.array(truth.factor_sizes) - 1)
    flat = np.ravel_multi_index(factors[:64].T, truth.factor_sizes)
    batch = dsprites.DSpritesSource(None, 32).read_batch(flat)
    np.testing.assert_array_equal(batch["factors"], factors[:64])
    images = truth.images(factors[:64])
    assert images.shape == (64, 32, 32, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, batch["image"])
    assert DSpritesGroundTruth().images(factors[:2]).shape == (2, 64, 64, 1)
    with pytest.raises(ValueError, match="image_size"):
        DSpritesGroundTruth(16)


def _pixel_coded_dataset(seed=0):
    """An ArrayGroundTruth over the 3 x 4 x 5 grid whose 2x2x3 images hold the factors."""
    factors = _grid(repeats=1, seed=seed)
    images = np.zeros((len(factors), 2, 2, 3), np.uint8)
    images[:, 0, 0, :] = factors * 50
    return ArrayGroundTruth(images, factors), factors, images


def test_array_ground_truth_finds_the_image_of_each_factor_vector():
    truth, factors, images = _pixel_coded_dataset()
    assert truth.factor_sizes == SIZES
    picked = factors[[5, 0, 17, 17]]
    np.testing.assert_array_equal(truth.images(picked), images[[5, 0, 17, 17]])
    reader = ArrayGroundTruth(lambda rows: images[rows], factors, factor_sizes=SIZES)
    np.testing.assert_array_equal(reader.images(picked), images[[5, 0, 17, 17]])
    with pytest.raises(ValueError, match="full grid"):
        ArrayGroundTruth(images[1:], factors[1:])
    with pytest.raises(ValueError, match="out of range"):
        ArrayGroundTruth(images, factors, factor_sizes=(3, 4, 4))


def test_factor_codes_and_mig_through_an_encoder():
    truth, _, _ = _pixel_coded_dataset()
    codes, factors = factor_codes(lambda x: x[:, 0, 0, :] / 50.0, truth, 2000, 0,
                                  encode_batch_size=300)
    np.testing.assert_allclose(codes, factors)
    assert mig(codes, factors) > 0.98


def test_beta_vae_score_oracle_and_random_on_dsprites():
    truth = _Recording(DSpritesGroundTruth(32))
    assert beta_vae_score(truth.oracle(), truth, 0, **FAST) > 0.95
    random = beta_vae_score(_random_encoder(), truth, 0, **FAST)
    assert random < 0.4  # chance 0.2
    assert beta_vae_score(_random_encoder(), truth, 0, **FAST) == random  # seeded


def test_factorvae_score_oracle_and_random_on_dsprites():
    truth = _Recording(DSpritesGroundTruth(32))
    fast = {**FAST, "num_variance_estimate": 1000}
    assert factorvae_score(truth.oracle(), truth, 0, **fast) > 0.97
    assert factorvae_score(_random_encoder(), truth, 0, **fast) < 0.35  # chance 0.2
    # A collapsed latent (zero variance: 0/0 if used) is pruned, not voted for.
    constant = truth.oracle(extra=lambda n: np.zeros((n, 1)))
    assert factorvae_score(constant, truth, 1, **fast) > 0.97
    assert factorvae_score(lambda x: np.zeros((len(x), 3)), truth, 1, **fast) == 0.0


def test_factorvae_prunes_small_latents_that_would_win_otherwise():
    truth, _, _ = _pixel_coded_dataset()
    rng = np.random.default_rng(0)

    def encode(images):
        # Latent 0 (std ~0.0001, collapsed): 0 in most batches, so its variance ratio often ties
        # the fixed factor's at 0 and, first in order, wins the vote whatever the factor.
        blip = 0.001 * (rng.random((len(images), 1)) < 0.02)
        return np.concatenate([blip, images[:, 0, 0, :] / 50.0], 1)
    fast = {**FAST, "num_variance_estimate": 500}
    assert factorvae_score(encode, truth, 0, **fast) == 1.0
    assert factorvae_score(encode, truth, 0, prune_threshold=0.0, **fast) < 0.8
