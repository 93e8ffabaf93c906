"""Which metrics a method can report (its capabilities, its Method.metrics, the dataset), and
the checks that fail before training."""

import dataclasses

import pytest

from genmodels import data, evaluation, methods
from genmodels.metrics import inception
from genmodels.train import loop
from tests.helpers import tiny_gan, tiny_points_gan, tiny_vae

SAMPLE = ["fid", "is", "kid", "precision", "recall", "density", "coverage"]


@pytest.mark.parametrize("make, field, value, metric, message", [
    (tiny_gan, None, None, "psnr", "cannot report 'psnr': it has no reconstruct"),
    (tiny_vae, None, None, "mig", "has no ground-truth factors"),
    (tiny_points_gan, None, None, "fid", "need an image dataset"),
    (tiny_gan, "data.name", "patches", "is", "needs class logits"),
    (tiny_vae, "eval.features", "inception", "fid", "pt_inception-2015-12-05"),
])
def test_unsupported_or_unavailable_metrics_fail_before_training(
        tmp_path, monkeypatch, make, field, value, metric, message):
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(inception, "packaged_weights", lambda: None)  # as without the extra
    config = make()
    if field:
        section, key = field.split(".")
        config[section][key] = value
    config.eval.metrics = (metric,)
    with pytest.raises((ValueError, inception.MissingInceptionWeightsError), match=message):
        loop.train_and_evaluate(config, str(tmp_path))
    assert not (tmp_path / "checkpoints").exists()


def test_support_follows_what_the_method_has():
    vae, gan = tiny_vae(), tiny_gan()
    digits = data.get_info(vae.data)
    vae_method = methods.build(vae, digits)
    gan_method = methods.build(gan, digits)
    assert {"fid", "psnr", "ms_ssim", "bpd"} <= set(evaluation.supported_metrics(vae_method,
                                                                              digits))
    gan_names = set(evaluation.supported_metrics(gan_method, digits))
    assert set(SAMPLE) <= gan_names and not gan_names & {"bpd", "psnr", "mig"}
    dsprites = data.get_info({"name": "dsprites", "image_size": 32})
    assert set(evaluation.DISENTANGLEMENT_METRICS) <= set(
        evaluation.supported_metrics(vae_method, dsprites))


@pytest.mark.parametrize("metric", ["psnr", "ms_ssim", "mig", "elbo"])
def test_method_metrics_is_consulted_for_every_family(metric):
    """A method that has reconstruct() and encode() but does not declare a metric in
    Method.metrics cannot report it; sample metrics need no declaration."""
    config = tiny_vae()
    dsprites = data.get_info({"name": "dsprites", "image_size": 32})
    method = methods.build(config, dsprites)
    assert evaluation.unsupported_reason(metric, method, dsprites) is None
    silent = dataclasses.replace(method, metrics=())
    assert "Method.metrics" in evaluation.unsupported_reason(metric, silent, dsprites)
    assert evaluation.unsupported_reason("fid", silent, dsprites) is None
    with pytest.raises(ValueError, match=f"cannot report '{metric}'"):
        evaluation.check_metrics((metric,), silent, dsprites)


def test_unknown_metric_lists_the_valid_ones():
    method = methods.build(tiny_vae(), data.get_info(tiny_vae().data))
    with pytest.raises(ValueError, match="Unknown metric 'fd_classifier'.*request 'fid'.*"
                                         "valid metrics: beta_vae_score, bpd"):
        evaluation.check_metrics(("fd_classifier",), method)


def test_every_metric_belongs_to_one_registered_family():
    families = {name: cls.metrics for name, cls in evaluation.FAMILIES.items()}
    assert list(families) == ["likelihood", "modes", "samples", "reconstruction",
                              "disentanglement"]
    assert sorted(evaluation.METRIC_FAMILIES) == sorted(sum(families.values(), ()))
    with pytest.raises(ValueError, match="'psnr' of family 'other' already belongs"):
        evaluation.register(type("Other", (evaluation.Family,), {"name": "other",
                                                                 "metrics": ("psnr",)}))
    assert "other" not in evaluation.FAMILIES
