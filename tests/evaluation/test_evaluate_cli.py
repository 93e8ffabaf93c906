"""experiments.evaluate end to end on tiny trained runs: the eval JSON and metrics.jsonl of the
sample and reconstruction metrics, --iwae_k, and the cross-run report."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from absl import app

from experiments import evaluate as evaluate_cli
from genmodels.train import loop
from genmodels.workdir import read_metrics
from tests.helpers import REPO, small_sample_eval, tiny_gan, tiny_vae

SAMPLE = ["fid", "is", "kid", "precision", "recall", "density", "coverage"]


@pytest.fixture(scope="module", autouse=True)
def optimized_xla():
    """conftest turns most XLA optimisations off; the feature classifier trains ~50x slower."""
    jax.config.update("jax_disable_most_optimizations", False)
    yield
    jax.config.update("jax_disable_most_optimizations", True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    vae = small_sample_eval(tiny_vae(), root / "cache")
    gan = small_sample_eval(tiny_gan(), root / "cache")
    loop.train_and_evaluate(vae, str(root / "vae"))
    loop.train_and_evaluate(gan, str(root / "gan"))
    return root


def test_evaluate_writes_eval_json_with_the_new_metrics(runs):
    """On digits the features are the in-project classifier's: the Fréchet distance, KID and IS
    are reported under keys naming that space, never as fid / kid / is."""
    workdir = str(runs / "vae")
    results = evaluate_cli.evaluate(workdir, None, SAMPLE + ["psnr", "ms_ssim"])
    with open(os.path.join(workdir, "eval", "step_00000006.json")) as f:
        saved = json.load(f)
    assert saved == results
    assert not {"fid", "kid", "is"} & set(saved)
    assert saved["step"] == 6 and saved["fd_classifier"] > 0 and saved["kid_classifier_std"] >= 0
    assert (saved["fd_classifier_num_samples"] == saved["kid_classifier_num_samples"]
            == saved["is_classifier_num_samples"] == 128)
    assert saved["fd_classifier_num_real"] == saved["kid_classifier_num_real"] == 256
    assert saved["prdc_num_samples"] == saved["prdc_num_real"] == 128
    assert saved["prdc_features"] == "classifier"
    assert saved["fid_reference"] == "digits/train@8px"
    assert saved["features_kind"] == "classifier" and saved["features_test_accuracy"] > 0.5
    assert 1.0 <= saved["is_classifier"] <= 10.0
    for name in ("precision", "recall", "coverage"):
        assert 0.0 <= saved[name] <= 1.0
    assert np.isfinite(saved["psnr"]) and 0 < saved["ms_ssim"] <= 1
    assert saved["reconstruction_num_examples"] == 64  # eval.num_examples of tiny_vae
    records = read_metrics(os.path.join(workdir, "eval"))
    assert records[-1]["fd_classifier"] == pytest.approx(saved["fd_classifier"])
    assert records[-1]["kid_classifier"] == pytest.approx(saved["kid_classifier"])
    # A later evaluation of other metrics keeps these (merged into the step's file).
    merged = evaluate_cli.evaluate(workdir, None, ["bpd"])
    assert merged["fd_classifier"] == saved["fd_classifier"] and "bpd" in merged


def test_report_writes_plots_and_a_table_for_two_workdirs(runs, tmp_path):
    out = tmp_path / "report"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(
        [sys.executable, "-m", "experiments.evaluate", "--report", str(runs / "vae"),
         str(runs / "gan"), f"--out={out}"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("precision_recall.png", "bpd_fd_classifier.png"):  # one bpd plot per space
        with open(out / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    table = (out / "report.md").read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in table.splitlines() if line.startswith("| vae") or line.startswith("| gan")}
    header = [c.strip() for c in table.splitlines()[2].split("|")[1:-1]]
    assert set(rows) == {"vae", "gan"} and "fid" not in header
    bpd, fd = header.index("bpd"), header.index("fd_classifier")
    precision = header.index("precision")
    assert rows["gan"][bpd] == "–" and float(rows["vae"][bpd]) > 0
    assert float(rows["gan"][fd]) > 0 and 0 <= float(rows["gan"][precision]) <= 1
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

