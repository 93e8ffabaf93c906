"""FID / IS / KID on feature arrays, the reference-statistics cache and the feature networks."""

import jax
import numpy as np
import pytest
import scipy.linalg

import configs.vae
from genmodels import data
from genmodels.metrics import features
from genmodels.metrics import fid as fid_lib
from genmodels import parallel


def _random_gaussian(rng, d):
    a = rng.standard_normal((d, d))
    return rng.standard_normal(d), a @ a.T / d + 0.1 * np.eye(d)


def _scipy_fid(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_matches_closed_form_frechet_distance_of_the_gaussians():
    rng = np.random.default_rng(0)
    (mu1, s1), (mu2, s2) = _random_gaussian(rng, 6), _random_gaussian(rng, 6)
    exact = _scipy_fid(mu1, s1, mu2, s2)
    x = rng.multivariate_normal(mu1, s1, size=200_000)
    y = rng.multivariate_normal(mu2, s2, size=200_000)
    estimate = fid_lib.fid_from_features(x, y)
    assert exact > 1.0
    assert estimate == pytest.approx(exact, rel=0.02)
    # Our eigenvalue form equals scipy's sqrtm on the very same (sample) statistics.
    stats = fid_lib.statistics(x) + fid_lib.statistics(y)
    assert fid_lib.frechet_distance(*stats) == pytest.approx(_scipy_fid(*stats), rel=1e-9)


def test_trace_sqrt_is_exact_when_covariances_are_singular():
    """N < D: both covariances have rank < D; tr sqrt(S1 S2) is still the sum of the square
    roots of the (real, non-negative) eigenvalues of S1 S2."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((20, 64)), rng.standard_normal((30, 64)) + 0.5
    (mu1, s1), (mu2, s2) = fid_lib.statistics(x), fid_lib.statistics(y)
    assert np.linalg.matrix_rank(s1) < 64
    eig = np.linalg.eigvals(s1 @ s2)
    expected = np.sum(np.sqrt(np.clip(eig.real, 0, None)))
    assert fid_lib.trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-6)
    assert fid_lib.frechet_distance(mu1, s1, mu2, s2) > 0


def test_statistics_are_float64_and_streaming_matches_numpy():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((500, 7)).astype(np.float32) * 100 + 1e3
    stats = fid_lib.RunningStats()
    for chunk in np.array_split(x, 7):
        stats.add(chunk)
    mu, sigma = stats.mean_cov()
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-7)


def test_fid_and_kid_of_a_set_against_itself_are_zero():
    x = np.random.default_rng(3).standard_normal((2000, 16))
    assert abs(fid_lib.fid_from_features(x, x)) < 1e-8
    kid, _ = fid_lib.kernel_inception_distance(x, x, num_subsets=5, subset_size=2000)
    # Same full set on both sides: only the left-out diagonal, O(k(x, x) / m), remains.
    diagonal = np.mean(fid_lib.polynomial_kernel(x, x).diagonal())
    assert abs(kid) <= 2 * diagonal / len(x)
    shifted, _ = fid_lib.kernel_inception_distance(x, x + 1.0, num_subsets=5, subset_size=2000)
    assert shifted > 20 * abs(kid)


def test_mmd2_unbiased_matches_a_brute_force_u_statistic():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((5, 3)) + 1

    def k(a, b):
        return (a @ b / 3 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    xy = sum(k(a, b) for a in x for b in y) / 35
    assert fid_lib.mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_is_unbiased_for_samples_of_one_distribution():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((4000, 8)), rng.standard_normal((4000, 8))
    values = [fid_lib.mmd2_unbiased(x[i * 100:(i + 1) * 100], y[i * 100:(i + 1) * 100])
              for i in range(40)]
    assert min(values) < 0 < max(values)  # single estimates straddle zero
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))
    kid, std = fid_lib.kernel_inception_distance(x, y, num_subsets=50, subset_size=100)
    assert abs(kid) < 3 * std / np.sqrt(50) + 1e-12
    shifted, _ = fid_lib.kernel_inception_distance(x, y + 0.5, num_subsets=50, subset_size=100)
    assert shifted > 10 * std


def test_inception_score_of_uniform_one_hot_predictions_equals_the_class_count():
    for c in (2, 10, 1008):
        labels = np.arange(c * 20) % c  # every split of 10 holds each class equally often
        logits = 1e4 * np.eye(c)[labels]
        mean, std = fid_lib.inception_score(logits, splits=10)
        assert mean == pytest.approx(c, rel=1e-6) and std < 1e-6
    same, _ = fid_lib.inception_score(np.tile([[3.0, 1.0, -2.0]], (100, 1)))
    assert same == pytest.approx(1.0)


def test_reference_cache_is_reused(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.random.default_rng(0).standard_normal((50, 4)), None

    first = fid_lib.cached_reference(str(tmp_path), "k", compute)
    second = fid_lib.cached_reference(str(tmp_path), "k", compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["sigma"], second["sigma"])
    assert int(second["num"]) == 50


def _config(tmp_path, **eval_fields):
    c = configs.vae.get_config()
    c.eval.cache_dir = str(tmp_path)
    c.eval.update(eval_fields)
    return c


def test_reference_features_stream_the_split_once_then_come_from_disk(tmp_path):
    config = _config(tmp_path, features="random", feature_batch_size=64, num_real=200)
    info = data.get_info(config.data)
    mesh = parallel.make_mesh()
    extractor = features.make_extractor(config, info)
    apply_fn = features.jit_extractor(extractor, mesh)
    calls = []

    def counting(images):
        calls.append(images.shape[0])
        return apply_fn(images)

    ref = features.reference_features(config, info, extractor, counting, mesh)
    assert calls == [64, 64, 64, 64] and ref["features"].shape == (200, 448)
    assert ref["reference"] == "digits/train@8px"
    again = features.reference_features(config, info, extractor, counting, mesh)
    assert len(calls) == 4  # nothing recomputed
    np.testing.assert_array_equal(ref["mu"], again["mu"])
    # The 200 references are a fixed random subset of the train split, not its first rows.
    direct = features.extract(apply_fn, features.dataset_batches(
        config.data, "train", 200, 64, mesh)[0], 4)["features"]
    np.testing.assert_allclose(direct, ref["features"], rtol=1e-5)


@pytest.fixture
def optimized_xla():
    """conftest turns most XLA optimisations off; conv training is ~50x slower without them."""
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", True)


@pytest.mark.usefixtures("optimized_xla")
def test_digits_classifier_trains_to_a_sane_accuracy_and_is_cached(tmp_path, monkeypatch):
    config = _config(tmp_path, classifier_steps=300)
    info = data.get_info(config.data)
    assert features.resolve_kind(config.eval, info) == "classifier"
    extractor = features.make_extractor(config, info)
    assert extractor.details["test_accuracy"] > 0.9
    monkeypatch.setattr(features, "train_classifier", lambda *a: pytest.fail("retrained"))
    again = features.make_extractor(config, info)
    assert again.name == extractor.name
    for a, b in zip(jax.tree.leaves(extractor.params), jax.tree.leaves(again.params)):
        np.testing.assert_array_equal(np.asarray(a), b)


def test_auto_features_pick_by_dataset(tmp_path, monkeypatch):
    monkeypatch.delenv("GENMODELS_INCEPTION_WEIGHTS", raising=False)
    cfg = _config(tmp_path).eval
    assert features.resolve_kind(cfg, data.get_info({"name": "patches"})) == "random"
    assert features.resolve_kind(cfg, data.get_info({"name": "dsprites"})) == "classifier"
    weights = tmp_path / "w.npz"
    weights.write_bytes(b"x")
    cfg.inception_weights = str(weights)
    assert features.resolve_kind(cfg, data.get_info({"name": "patches", "image_size": 32})) \
        == "inception"
    assert features.resolve_kind(cfg, data.get_info({"name": "patches"})) == "random"  # 16 px
    dsprites = data.get_info({"name": "dsprites"})
    batch = data.get_source({"name": "dsprites"}, "test").read_batch(np.arange(3))
    target = features.targets_of(batch, dsprites)
    np.testing.assert_array_equal(target, batch["factors"][:, 0] * 6 + batch["factors"][:, 1])
    assert features.classifier_target(dsprites) == ("shape_x_scale", 18)
