"""The trainer end to end: determinism, resume, errors, sample grids and logs."""

import json
import os
import types

import numpy as np
import pytest

import genmodels
from genmodels.train import loop
from genmodels import api, evaluation
from genmodels import workdir as workdir_lib
from genmodels.train.checkpoint import (CheckpointError, CheckpointMismatchError,
                                        CorruptCheckpointError)
from genmodels.workdir import read_metrics, train_seconds
from tests.helpers import flat_params, tiny_gan, tiny_points_gan, tiny_vae

TIMING = loop.TIMING_METRICS


def _model_metrics(workdir):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(workdir)]


@pytest.mark.parametrize("make_config", [tiny_vae, tiny_gan], ids=["vae", "gan"])
def test_run_writes_workdir_contract(tmp_path, make_config):
    workdir = str(tmp_path)
    state = loop.train_and_evaluate(make_config(), workdir)
    assert int(state.step) == 6
    assert json.load(open(os.path.join(workdir, "config.json")))["train"]["num_steps"] == 6
    records = read_metrics(workdir, "train")
    assert [r["step"] for r in records] == [2, 4, 6]
    players = list(state.params)
    for r in records:
        assert all(f"loss/{p}" in r and np.isfinite(r[f"loss/{p}"]) for p in players)
    assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
        "step_00000003.png", "step_00000006.png"]
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["3", "6"]
    model = genmodels.load(workdir)
    np.testing.assert_array_equal(flat_params(model.state), flat_params(state))
    samples = model.sample(5, seed=1)
    assert samples.shape == (5, 8, 8, 1) and samples.dtype == np.uint8


def test_vae_logs_eval_bpd(tmp_path):
    loop.train_and_evaluate(tiny_vae(), str(tmp_path))
    evals = read_metrics(str(tmp_path), "eval")
    assert [r["step"] for r in evals] == [3, 6]
    for r in evals:
        assert r["num_examples"] == 64
        assert 0.0 < r["bpd"] < 9.0  # An untrained model is near the uniform 8 bits.
        np.testing.assert_allclose(r["elbo"], -(r["recon"] + r["kl"]), rtol=1e-5)


def test_same_seed_same_metrics_and_params(tmp_path):
    a = loop.train_and_evaluate(tiny_gan(), str(tmp_path / "a"))
    b = loop.train_and_evaluate(tiny_gan(), str(tmp_path / "b"))
    np.testing.assert_array_equal(flat_params(a), flat_params(b))
    assert _model_metrics(tmp_path / "a") == _model_metrics(tmp_path / "b")
    c = tiny_gan()
    c.seed = 1
    assert not np.array_equal(flat_params(loop.train_and_evaluate(c, str(tmp_path / "c"))),
                              flat_params(a))


def test_resume_equals_uninterrupted_and_finished_run_returns(tmp_path):
    full = loop.train_and_evaluate(tiny_vae(), str(tmp_path / "full"))
    part = str(tmp_path / "part")
    loop.train_and_evaluate(tiny_vae(num_steps=3), part)  # Stops at checkpoint 3.
    resumed = loop.train_and_evaluate(tiny_vae(), part)
    np.testing.assert_array_equal(flat_params(resumed), flat_params(full))
    assert loop.train_and_evaluate(tiny_vae(), part) is None  # Finished: returns at once.


def test_run_stopped_during_its_final_evaluation_evaluates_on_resume(tmp_path):
    """A run killed after its last checkpoint but before its final eval record is not finished:
    rerunning it writes the eval record the uninterrupted run wrote, and trains nothing."""
    config = tiny_points_gan(num_steps=6, checkpoint_every=6)
    config.eval.metrics = ("modes",)
    config.eval.every = 0  # Only at the end.
    workdir = str(tmp_path / "run")
    loop.train_and_evaluate(config, workdir)
    records = read_metrics(workdir)
    final_eval = [r for r in records if r["split"] == "eval"]
    assert [r["step"] for r in final_eval] == [6] and workdir_lib.is_finished(workdir)
    with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:  # As if killed in the eval.
        f.writelines(json.dumps(r) + "\n" for r in records if r["split"] != "eval")
    assert not workdir_lib.is_finished(workdir)
    state = loop.train_and_evaluate(config, workdir)
    assert state is not None and int(state.step) == 6
    assert read_metrics(workdir) == records  # The same eval record, after the same train ones.
    assert workdir_lib.is_finished(workdir) and loop.train_and_evaluate(config, workdir) is None


def test_nan_stops_cleanly_and_keeps_last_checkpoint(tmp_path):
    config = tiny_gan(num_steps=9, checkpoint_every=3, log_every=3)
    workdir = str(tmp_path)
    loop.train_and_evaluate(tiny_gan(num_steps=3, checkpoint_every=3, log_every=3), workdir)
    config.optim.generator.learning_rate = float("nan")  # Params turn NaN after one update.
    with pytest.raises(loop.NonFiniteLossError) as error:
        loop.train_and_evaluate(config, workdir)
    message = str(error.value)
    assert "train step 4" in message and "generator" in message and "param_norm/generator" in message
    assert "last good checkpoint (step 3)" in message
    model = genmodels.load(workdir)
    assert model.step == 3 and np.all(np.isfinite(flat_params(model.state)))


def test_mlp_gan_on_points(tmp_path):
    config = tiny_points_gan()
    loop.train_and_evaluate(config, str(tmp_path))
    samples = genmodels.load(str(tmp_path)).sample(10)
    assert samples.shape == (10, 2) and samples.dtype == np.float32
    assert os.path.exists(tmp_path / "samples" / "step_00000006.png")


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="not a genmodels workdir"):
        genmodels.load(str(tmp_path / "nowhere"))
    workdir = str(tmp_path / "run")
    loop.train_and_evaluate(tiny_vae(), workdir)
    with pytest.raises(CheckpointError, match="available steps: \\[3, 6\\]"):
        genmodels.load(workdir, step=4)
    # Corrupt the latest checkpoint's array data.
    step_dir = os.path.join(workdir, "checkpoints", "6")
    for root, _, files in os.walk(step_dir):
        for name in files:
            if "manifest" in name or name.startswith("d"):
                open(os.path.join(root, name), "wb").write(b"garbage")
    with pytest.raises(CorruptCheckpointError,
                       match="cannot be restored: it is corrupt.*Step 3 restores: delete .*6"):
        genmodels.load(workdir)
    assert genmodels.load(workdir, step=3).step == 3
    # A readable checkpoint under another config: a mismatch naming the field, no fallback.
    other = tiny_vae()
    other.model.latent_dim = 7
    with pytest.raises(CheckpointMismatchError, match="model.latent_dim \\(4 there, 7 here\\)"
                       ) as error:
        api.load(workdir, step=3, config=other)
    assert "delete" not in str(error.value).lower()


def test_mode_metrics_are_logged_on_2d_data(tmp_path):
    config = tiny_points_gan()
    config.eval.metrics = ("modes",)
    config.eval.every = 3
    loop.train_and_evaluate(config, str(tmp_path))
    evals = read_metrics(str(tmp_path), "eval")
    assert [r["step"] for r in evals] == [3, 6]
    assert all(0 <= r["modes"] <= 8 and r["modes_num_samples"] == 2500 for r in evals)


def test_steps_per_sec_times_train_steps_only(tmp_path, monkeypatch):
    """On a fake clock, an evaluation that takes 10^6 s leaves the train rate untouched: the
    window after an eval starts when the eval ends."""
    clock = [0.0]

    def perf_counter():
        clock[0] += 1.0  # Every reading of the clock advances it by 1 s.
        return clock[0]

    class SlowEvaluator(evaluation.Evaluator):
        def __call__(self, *args, **kwargs):
            clock[0] += 1e6
            return super().__call__(*args, **kwargs)

    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=perf_counter))
    monkeypatch.setattr(loop.evaluation, "Evaluator", SlowEvaluator)
    config = tiny_points_gan(num_steps=8, log_every=2, sample_every=8)
    config.eval.metrics = ("modes",)
    config.eval.every = 2
    loop.train_and_evaluate(config, str(tmp_path))
    records = read_metrics(str(tmp_path))
    assert [r["step"] for r in records if r["split"] == "eval"] == [2, 4, 6, 8]
    rates = [r["steps_per_sec"] for r in records if r["split"] == "train" and r["step"] > 2]
    assert len(rates) == 3 and min(rates) > 0.1  # With the eval inside: 2 steps / 10^6 s.
    assert train_seconds(records) < 100
