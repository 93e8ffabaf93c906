"""Precision/recall (Kynkaanniemi 2019) and density/coverage (Naeem 2020)."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from genmodels.metrics.prdc import density_coverage, kth_neighbour_sq_radii, precision_recall


def _brute_force(real, fake, k):
    """The four metrics from full float64 distance matrices, straight from the definitions."""
    real_real, fake_fake, real_fake = cdist(real, real), cdist(fake, fake), cdist(real, fake)
    real_radius = np.sort(real_real, axis=1)[:, k]  # column 0 is the point itself
    fake_radius = np.sort(fake_fake, axis=1)[:, k]
    return {
        "precision": np.mean(np.any(real_fake <= real_radius[:, None], axis=0)),
        "recall": np.mean(np.any(real_fake <= fake_radius[None, :], axis=1)),
        "density": np.sum(real_fake < real_radius[:, None]) / (k * len(fake)),
        "coverage": np.mean(real_fake.min(axis=1) < real_radius),
    }


def _gaussians(n, m, dim=16, shift=0.0, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)), shift + scale * rng.normal(size=(m, dim))


def _all(real, fake, **kwargs):
    return {**precision_recall(real, fake, **kwargs), **density_coverage(real, fake, **kwargs)}


def test_agrees_with_brute_force_with_and_without_chunks():
    real, fake = _gaussians(300, 250, shift=0.3, scale=1.2)
    for k in (1, 3, 5):
        expected = _brute_force(real, fake, k)
        assert 0.05 < expected["precision"] < 0.99 and 0.05 < expected["recall"] < 0.99
        whole = _all(real, fake, k=k, chunk_size=10_000)
        # 64 does not divide 300 or 250: the last chunk is padded.
        chunked = _all(real, fake, k=k, chunk_size=64)
        assert whole == chunked
        for name, value in expected.items():
            np.testing.assert_allclose(whole[name], value, rtol=0, atol=1e-12, err_msg=name)


def test_kth_neighbour_excludes_the_point_itself():
    points = np.array([[0.0], [1.0], [3.0]])
    np.testing.assert_allclose(kth_neighbour_sq_radii(points, k=1, chunk_size=2), [1, 1, 4])
    np.testing.assert_allclose(kth_neighbour_sq_radii(points, k=2), [9, 4, 9])


def test_hand_computed_sets():
    real = np.array([[0.0], [1.0], [3.0]])  # k=1 radii 1, 1, 2
    fake = np.array([[2.5], [10.0], [10.5]])  # fake k=1 radii 7.5, 0.5, 0.5
    # Closed balls: 2.5 is in B(3, 2); 10 and 10.5 are in no real ball. Every real point is
    # within 7.5 of the fake 2.5.
    assert precision_recall(real, fake, k=1) == {"precision": 1 / 3, "recall": 1.0}
    # Open balls: only B(3, 2) holds a fake (2.5); |2.5 - 1| = 1.5 is outside B(1, 1).
    assert density_coverage(real, fake, k=1) == {"density": 1 / 3, "coverage": 1 / 3}


def test_identical_sets_score_one():
    real, _ = _gaussians(400, 1, dim=8)
    result = _all(real, real.copy(), k=3)
    # Each open ball holds its centre and its k - 1 nearer neighbours: density is exactly 1.
    assert result == {"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}


def test_moving_the_fakes_away_lowers_precision_and_density():
    real, same = _gaussians(600, 600, dim=8, seed=1)
    _, moved = _gaussians(600, 600, dim=8, shift=1.0, seed=2)
    base, shifted = _all(real, same), _all(real, moved)
    assert shifted["precision"] < base["precision"] - 0.3
    assert shifted["density"] < base["density"] - 0.3


def test_shrinking_the_fakes_lowers_recall_and_coverage_not_precision():
    real, same = _gaussians(600, 600, dim=8, seed=1)
    _, shrunk = _gaussians(600, 600, dim=8, scale=0.3, seed=2)
    base, narrow = _all(real, same), _all(real, shrunk)
    assert narrow["recall"] < base["recall"] - 0.3
    assert narrow["coverage"] < base["coverage"] - 0.3
    # Fakes in the dense centre of the real data: inside the real manifold.
    assert narrow["precision"] >= base["precision"] and narrow["precision"] > 0.95


def test_invalid_inputs():
    real, fake = _gaussians(10, 10, dim=4)
    with pytest.raises(ValueError, match="more than k real"):
        precision_recall(real[:3], fake, k=3)
    with pytest.raises(ValueError, match="fake features"):
        precision_recall(real, fake[:3], k=3)
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        density_coverage(real, fake[:, :3])
    # Density/coverage need no fake neighbours: a single fake is enough.
    one = density_coverage(real, real[:1], k=5)
    # With one fake, both count the real balls holding it: density = coverage * N / k.
    assert one["coverage"] > 0
    np.testing.assert_allclose(one["density"], one["coverage"] * 10 / 5, rtol=1e-12)
