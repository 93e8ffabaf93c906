"""The new metric families end to end: experiments.evaluate on tiny trained runs, periodic
evaluation during training, support checks, disentanglement on dsprites, and the report."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from absl import app

from experiments import evaluate as evaluate_cli
from genmodels import data, evaluation, methods
from genmodels.metrics import inception
from genmodels import parallel
from genmodels.train import loop
from genmodels.workdir import read_metrics
from tests.helpers import REPO, tiny_gan, tiny_points_gan, tiny_vae

SAMPLE = ["fid", "is", "kid", "precision", "recall", "density", "coverage"]


@pytest.fixture(scope="module", autouse=True)
def optimized_xla():
    """conftest turns most XLA optimisations off; the feature classifier trains ~50x slower."""
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", True)


def _small_eval(config, cache):
    config.eval.update(dict(cache_dir=str(cache), num_samples=128, num_real=256,
                            feature_batch_size=64, classifier_steps=100, kid_subsets=10,
                            kid_subset_size=64, prdc_num_samples=128))
    return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    vae, gan = _small_eval(tiny_vae(), root / "cache"), _small_eval(tiny_gan(), root / "cache")
    loop.train_and_evaluate(vae, str(root / "vae"))
    loop.train_and_evaluate(gan, str(root / "gan"))
    return root


def test_evaluate_writes_eval_json_with_the_new_metrics(runs):
    workdir = str(runs / "vae")
    results = evaluate_cli.evaluate(workdir, None, SAMPLE + ["psnr", "ms_ssim"])
    with open(os.path.join(workdir, "eval", "step_00000006.json")) as f:
        saved = json.load(f)
    assert saved == results
    assert saved["step"] == 6 and saved["fid"] > 0 and saved["kid_std"] >= 0
    assert saved["fid_num_samples"] == saved["kid_num_samples"] == saved["is_num_samples"] == 128
    assert saved["fid_num_real"] == saved["kid_num_real"] == 256
    assert saved["prdc_num_samples"] == saved["prdc_num_real"] == 128
    assert saved["fid_reference"] == "digits/train@8px"
    assert saved["features_kind"] == "classifier" and saved["features_test_accuracy"] > 0.5
    assert 1.0 <= saved["is"] <= 10.0
    for name in ("precision", "recall", "coverage"):
        assert 0.0 <= saved[name] <= 1.0
    assert np.isfinite(saved["psnr"]) and 0 < saved["ms_ssim"] <= 1
    assert saved["reconstruction_num_examples"] == 64  # eval.num_examples of tiny_vae
    records = read_metrics(os.path.join(workdir, "eval"))
    assert records[-1]["fid"] == pytest.approx(saved["fid"])
    # A later evaluation of other metrics keeps these (merged into the step's file).
    merged = evaluate_cli.evaluate(workdir, None, ["bpd"])
    assert merged["fid"] == saved["fid"] and "bpd" in merged


def test_sample_metrics_run_periodically_during_training(tmp_path):
    config = _small_eval(tiny_gan(), tmp_path / "cache")
    config.eval.metrics = ("fid", "precision", "recall")
    config.eval.every = 3
    loop.train_and_evaluate(config, str(tmp_path / "run"))
    evals = read_metrics(str(tmp_path / "run"), "eval")
    assert [r["step"] for r in evals] == [3, 6]
    assert all(r["fid"] > 0 and r["fid_num_samples"] == 128 for r in evals)
    assert evals[0]["fid"] != evals[1]["fid"]  # the generator changed between evaluations


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


def test_disentanglement_metrics_of_a_dsprites_encoder():
    config = tiny_vae()
    config.data.update(name="dsprites", image_size=32)
    config.eval.update(metrics=("mig", "sap", "dci_disentanglement", "beta_vae_score",
                                "factorvae_score"), disentanglement_num_examples=300,
                       disentanglement_num_train=40, disentanglement_num_eval=20)
    info = data.get_info(config.data)
    method = methods.build(config, info)
    batch = {"image": np.zeros((2, 32, 32, 1), np.uint8)}
    variables = method.init(jax.random.PRNGKey(0), batch)
    evaluator = evaluation.Evaluator(method, config, parallel.make_mesh())
    codes = evaluator.encode_fn(variables)(np.zeros((70, 32, 32, 1), np.uint8))
    assert codes.shape == (70, 4)  # padded batches of eval.batch_size, trimmed
    results = evaluator(variables, jax.random.PRNGKey(1))
    for name in ("mig", "sap", "dci_disentanglement", "dci_completeness", "beta_vae_score",
                 "factorvae_score"):
        assert 0.0 <= results[name] <= 1.0, name
    assert results["disentanglement_num_examples"] == 300
    assert results["beta_vae_score_num_train"] == 40


def test_report_writes_plots_and_a_table_for_two_workdirs(runs, tmp_path):
    out = tmp_path / "report"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "experiments.evaluate", "--report", str(runs / "vae"),
         str(runs / "gan"), f"--out={out}"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("precision_recall.png", "bpd_fid.png"):
        with open(out / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    table = (out / "report.md").read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in table.splitlines() if line.startswith("| vae") or line.startswith("| gan")}
    header = [c.strip() for c in table.splitlines()[2].split("|")[1:-1]]
    assert set(rows) == {"vae", "gan"}
    bpd, fid, precision = header.index("bpd"), header.index("fid"), header.index("precision")
    assert rows["gan"][bpd] == "–" and float(rows["vae"][bpd]) > 0
    assert float(rows["gan"][fid]) > 0 and 0 <= float(rows["gan"][precision]) <= 1
    assert os.listdir(runs / "gan" / "eval")  # the GAN had no eval JSON: evaluated first


def test_iwae_k_flag_tightens_the_bound_and_records_k(runs):
    """--iwae_k: the bound with 64 importance samples is below the k = 1 ELBO estimate (averaged
    over the test images), the results record the k used, and methods without an IWAE bound
    are refused."""
    workdir = str(runs / "vae")
    elbo = evaluate_cli.evaluate(workdir, None, ["bpd"], iwae_k=1)
    tight = evaluate_cli.evaluate(workdir, None, ["bpd"], iwae_k=64)
    assert elbo["iwae_k"] == 1 and tight["iwae_k"] == 64
    assert tight["bpd"] < elbo["bpd"] and tight["bpd"] < tight["bpd_elbo"]
    with pytest.raises(app.UsageError, match="no IWAE bound"):
        evaluate_cli.evaluate(str(runs / "gan"), None, ["fid"], iwae_k=4)
