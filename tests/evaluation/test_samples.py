"""The sample family: precision/recall/density/coverage on uniform random subsets (not the
first N in dataset order), metric keys that name the feature space, and sample metrics during
training."""

import jax
import numpy as np
import pytest

from genmodels import data, evaluation, methods, parallel
from genmodels.evaluation import samples
from genmodels.metrics import features as features_lib
from genmodels.metrics.prdc import density_coverage, precision_recall, prdc_metrics, uniform_subset
from genmodels.train import loop
from genmodels.workdir import read_metrics
from tests.helpers import small_sample_eval, tiny_gan

PRDC = ("precision", "recall", "density", "coverage")


def _sorted_mixture(rng, clusters: int = 5, per_cluster: int = 400, dims: int = 8):
    """Features of `clusters` well-separated Gaussians, sorted by cluster (as a dataset sorted
    by class or source photograph), and an independent shuffled draw of the same mixture."""
    centres = rng.normal(size=(clusters, dims)) * 10.0

    def draw():
        return np.concatenate([c + rng.normal(size=(per_cluster, dims)) for c in centres])

    fake = draw()
    return draw().astype(np.float32), fake[rng.permutation(len(fake))].astype(np.float32)


def test_prdc_of_a_sorted_reference_equals_that_of_a_shuffled_copy():
    """Uniform subsets: the order of the reference set does not matter (within sampling noise),
    while the first eval.prdc_num_samples features in dataset order would see one cluster of
    five and miss precision and density by far."""
    rng = np.random.default_rng(0)
    real, fake = _sorted_mixture(rng)
    shuffled = real[rng.permutation(len(real))]
    m = 400
    ordered = prdc_metrics(real, fake, PRDC, m, 3, 5, seed=(0, 1))
    mixed = prdc_metrics(shuffled, fake, PRDC, m, 3, 5, seed=(0, 2))
    assert ordered["prdc_num_real"] == ordered["prdc_num_samples"] == m
    for name in PRDC:
        assert ordered[name] == pytest.approx(mixed[name], abs=0.15 if name == "density" else 0.08)
    prefix = {**precision_recall(real[:m], fake[:m], k=3), **density_coverage(real[:m], fake[:m])}
    assert prefix["precision"] < ordered["precision"] - 0.5
    assert prefix["density"] < ordered["density"] - 0.5


def test_uniform_subset_spans_the_whole_set_and_keeps_small_sets():
    x = np.arange(1000)[:, None]
    subset = uniform_subset(x, 100, np.random.default_rng(0))
    assert len(np.unique(subset)) == 100 and subset.max() > 900 and subset.min() < 100
    assert len(uniform_subset(x[:50], 100, np.random.default_rng(0))) == 50


def test_the_sample_family_draws_the_reference_subset_uniformly(monkeypatch):
    """Through the Evaluator, with the feature network stubbed: a reference sorted by cluster
    gives the metrics of a shuffled one, and they are recorded with their feature space."""
    real, fake = _sorted_mixture(np.random.default_rng(1))
    stub = features_lib.FeatureExtractor("random", "stub", None, None, False)
    monkeypatch.setattr(features_lib, "make_extractor", lambda *args: stub)
    monkeypatch.setattr(features_lib, "jit_extractor", lambda *args: None)
    monkeypatch.setattr(samples.Samples, "sample_features",
                        lambda self, variables, rng: {"features": fake})
    config = tiny_gan()
    config.data.name = "patches"
    config.eval.update(metrics=PRDC, prdc_num_samples=400)
    method = methods.build(config, data.get_info(config.data))
    results = {}
    shuffled = real[np.random.default_rng(2).permutation(len(real))]
    for name, reference in (("sorted", real), ("shuffled", shuffled)):
        ref = {"features": reference, "num": len(reference), "reference": "stub"}
        monkeypatch.setattr(features_lib, "reference_features", lambda *args, r=ref: r)
        evaluator = evaluation.Evaluator(method, config, parallel.make_mesh())
        results[name] = evaluator(None, jax.random.PRNGKey(0))
        assert evaluator.metadata["prdc_features"] == "randconv"
    for name in PRDC:
        assert results["sorted"][name] == pytest.approx(results["shuffled"][name], abs=0.1)
    assert results["sorted"]["precision"] > 0.8


@pytest.mark.parametrize("name, kind, key", [
    ("fid", "inception", "fid"), ("kid", "inception", "kid"), ("is", "inception", "is"),
    ("fid", "classifier", "fd_classifier"), ("kid", "classifier", "kid_classifier"),
    ("is", "classifier", "is_classifier"), ("fid", "random", "fd_randconv"),
    ("kid", "random", "kid_randconv"), ("precision", "random", "precision"),
])
def test_result_keys_name_the_feature_space(name, kind, key):
    assert evaluation.result_key(name, kind) == key


def test_sample_metrics_run_periodically_during_training(tmp_path, xla_optimized):
    """On digits the features are the classifier's: the Fréchet distance is fd_classifier, in
    metrics.jsonl at every evaluation."""
    config = small_sample_eval(tiny_gan(), tmp_path / "cache")
    config.eval.metrics = ("fid", "precision", "recall")
    config.eval.every = 3
    loop.train_and_evaluate(config, str(tmp_path / "run"))
    evals = read_metrics(str(tmp_path / "run"), "eval")
    assert [r["step"] for r in evals] == [3, 6]
    assert all("fid" not in r for r in evals)
    assert all(r["fd_classifier"] > 0 and r["fd_classifier_num_samples"] == 128 for r in evals)
    assert evals[0]["fd_classifier"] != evals[1]["fd_classifier"]  # the generator changed
