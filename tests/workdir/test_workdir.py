"""The workdir's guarantees under faults (docs/workdir.md): a kill mid-checkpoint, a full disk, a
torn metrics line, a changed-config rerun, two writers, a stale lease, and a whole run on a
remote (gs://) workdir through etils.epath."""

import errno
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from unittest import mock

import numpy as np
import orbax.checkpoint as ocp
import pytest
from etils.epath import gpath
from etils.epath import testing as epath_testing
from orbax.checkpoint._src.path import gcs_utils

import genmodels
from experiments import evaluate as evaluate_cli
from genmodels import api
from genmodels import workdir as workdir_lib
from genmodels.train import loop
from genmodels.train.checkpoint import CheckpointError
from tests.helpers import REPO, flat_params, run_python, tiny_vae


def _snapshot(workdir) -> dict:
    """{relative path: bytes} of every file under workdir."""
    out = {}
    for root, _, files in os.walk(workdir):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, workdir)] = f.read()
    return out


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished tiny VAE run (checkpoints 3 and 6) and its final params."""
    workdir = str(tmp_path_factory.mktemp("finished") / "run")
    state = loop.train_and_evaluate(tiny_vae(), workdir)
    return workdir, flat_params(state)


def test_sigkill_while_writing_a_checkpoint_resumes_from_the_last_complete_step(
        tmp_path, finished_run):
    workdir = str(tmp_path / "run")
    # A training process that kills itself while orbax writes checkpoint 6 (after its
    # temporary directory exists, before it is finalized).
    code = (
        "import os, signal, time\n"
        "import orbax.checkpoint as ocp\n"
        "from genmodels.train import loop\n"
        "from tests.helpers import tiny_vae\n"
        "save = ocp.CheckpointManager.save\n"
        "def killing_save(self, step, *args, **kwargs):\n"
        "    if step == 6:\n"
        "        save(self, step, *args, **kwargs)\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return save(self, step, *args, **kwargs)\n"
        "ocp.CheckpointManager.save = killing_save\n"
        f"loop.train_and_evaluate(tiny_vae(), {workdir!r})\n")
    result = run_python(code, check=False)
    assert result.returncode == -signal.SIGKILL
    assert workdir_lib.checkpoint_steps(workdir) == [3]
    assert workdir_lib.read_lease(workdir)["pid"] != os.getpid()  # The dead process's lease.
    state = loop.train_and_evaluate(tiny_vae(), workdir)  # Takes the dead pid's lease over.
    assert int(state.step) == 6 and workdir_lib.checkpoint_steps(workdir) == [3, 6]
    # The subprocess compiled with full XLA optimisation (tests skip most): equal up to rounding.
    np.testing.assert_allclose(flat_params(state), finished_run[1], rtol=1e-5, atol=1e-6)
    assert workdir_lib.read_lease(workdir) is None  # Released at the end.


def test_no_space_left_stops_the_run_and_the_previous_checkpoint_restores(tmp_path):
    workdir = str(tmp_path / "run")
    save = ocp.CheckpointManager.save

    def full_disk(self, step, *args, **kwargs):
        if step == 6:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return save(self, step, *args, **kwargs)

    with mock.patch.object(ocp.CheckpointManager, "save", full_disk), pytest.raises(
            CheckpointError, match="step 6 .* failed: no space left on device.*"
            "previous checkpoint \\(step 3\\) is intact.*rerun"):
        loop.train_and_evaluate(tiny_vae(), workdir)
    assert workdir_lib.read_lease(workdir) is None
    assert genmodels.load(workdir).step == 3


def test_torn_metrics_line_is_skipped_and_dropped_on_resume(tmp_path, caplog):
    workdir = str(tmp_path / "run")
    loop.train_and_evaluate(tiny_vae(num_steps=3), workdir)
    with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
        f.write('{"step": 4, "split": "tr')  # A write cut off by a crash.
    with caplog.at_level(logging.WARNING):
        steps = [r["step"] for r in workdir_lib.read_metrics(workdir)]
    assert steps == [2, 3, 3] and "line 4 is not valid JSON" in caplog.text
    loop.train_and_evaluate(tiny_vae(), workdir)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [2, 3, 3, 4, 6, 6]


def test_changed_config_is_refused_before_writing_and_the_run_still_loads(
        tmp_path, finished_run):
    workdir = str(tmp_path / "run")
    shutil.copytree(finished_run[0], workdir)
    before = _snapshot(workdir)
    changed = tiny_vae(log_every=3)
    changed.model.latent_dim = 7
    with pytest.raises(workdir_lib.ConfigDriftError,
                       match="latest step 6.*model.latent_dim: 4 in config.json, 7 now.*"
                             "new --workdir, or delete") as error:
        loop.train_and_evaluate(changed, workdir)
    assert "log_every" not in str(error.value)  # Safe fields are not listed.
    assert _snapshot(workdir) == before  # Nothing written, not even the lease.
    assert genmodels.load(workdir).step == 6
    assert api.evaluate_checkpoint(workdir)["step"] == 6

    # The CLI: one message, exit code 2.
    result = subprocess.run(
        [sys.executable, "-m", "experiments.main", "--config=configs/vae.py",
         f"--workdir={workdir}"], check=False, cwd=REPO, capture_output=True, text=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) <= 3
    assert "model.latent_dim: 4 in config.json, 16 now" in result.stderr

    # Safe changes resume, and are recorded with the step they took effect at.
    assert int(loop.train_and_evaluate(tiny_vae(num_steps=9, log_every=3), workdir).step) == 9
    history = workdir_lib.read_config_history(workdir)
    assert [(h["step"], h["changed"]) for h in history] == [
        (6, {"train.log_every": [2, 3], "train.num_steps": [6, 9]})]
    assert workdir_lib.load_config(workdir).train.num_steps == 9


def _write_lease(workdir, **fields):
    os.makedirs(workdir, exist_ok=True)
    lease = {"host": socket.gethostname(), "pid": os.getpid(), "token": "other",
             "started": time.time(), "heartbeat": time.time(), **fields}
    with open(os.path.join(workdir, "lease.json"), "w") as f:
        json.dump(lease, f)


def test_second_writer_is_refused_naming_the_holder(tmp_path):
    workdir = str(tmp_path / "run")
    with workdir_lib.Lease(workdir):  # A live writer: this process.
        with pytest.raises(workdir_lib.LeaseError, match=f"pid {os.getpid()} on host "
                           f"{socket.gethostname()}.*one training run writes a workdir"):
            loop.train_and_evaluate(tiny_vae(), workdir)
        assert sorted(os.listdir(workdir)) == ["lease.json"]  # Refused before writing.
    assert not os.path.exists(os.path.join(workdir, "lease.json"))
    # A writer on another host, heartbeat fresh: refused; its pid cannot be checked from here.
    _write_lease(workdir, host="another-host", pid=1)
    with pytest.raises(workdir_lib.LeaseError, match="another-host.*expires 300 s after"):
        workdir_lib.Lease(workdir).acquire()


@pytest.mark.parametrize("holder", ["dead_pid", "old_heartbeat"])
def test_stale_lease_is_taken_over(tmp_path, caplog, holder):
    workdir = str(tmp_path / "run")
    if holder == "dead_pid":
        dead = subprocess.Popen(["true"])
        dead.wait()
        _write_lease(workdir, pid=dead.pid)
        reason = f"pid {dead.pid} is not running on this host"
    else:
        _write_lease(workdir, host="another-host", heartbeat=time.time() - 301)
        reason = "last heartbeat was 301 s ago"
    with caplog.at_level(logging.WARNING):
        lease = workdir_lib.Lease(workdir).acquire()
    assert "Taking over the stale lease" in caplog.text and reason in caplog.text
    assert workdir_lib.read_lease(workdir)["token"] == lease.token
    lease.release()
    assert workdir_lib.read_lease(workdir) is None


def test_heartbeat_refreshes_and_a_lost_lease_stops_the_holder(tmp_path, monkeypatch):
    monkeypatch.setattr(workdir_lib.lease, "HEARTBEAT_S", 0.02)
    workdir = str(tmp_path)
    lease = workdir_lib.Lease(workdir).acquire()
    first = workdir_lib.read_lease(workdir)["heartbeat"]
    deadline = time.time() + 10
    while workdir_lib.read_lease(workdir)["heartbeat"] == first:
        assert time.time() < deadline
        time.sleep(0.01)
    lease.check()  # Still ours.
    _write_lease(workdir, token="usurper")  # Another process took it over.
    while not lease.lost:
        assert time.time() < deadline
        time.sleep(0.01)
    with pytest.raises(workdir_lib.LeaseError, match="Lost the lease"):
        lease.check()
    lease.release()
    assert workdir_lib.read_lease(workdir)["token"] == "usurper"  # Not ours to delete.


@pytest.fixture
def fake_gcs(tmp_path, monkeypatch):
    """gs://bucket/... served from tmp_path/bucket/... through etils.epath's gs:// code path:
    epath.testing.mock_epath swaps the storage backend under gpath (the os backend on a
    rewritten path), gpath is kept off TensorFlow's gfile, and orbax's tensorstore kvstore for
    gs:// gets the file driver on the same directory. Orbax otherwise takes its GCS branch
    (no renames; commit_success.txt marks a finished checkpoint)."""
    root = tmp_path / "gcs"
    root.mkdir()

    def local(p):
        s = os.fspath(p)
        return str(root / s[len("gs://"):]) if s.startswith("gs://") else s

    def one(original, p, *args, **kwargs):
        return original(local(p), *args, **kwargs)

    def two(original, p, dst, *args, **kwargs):
        return original(local(p), local(dst), *args, **kwargs)

    def glob(original, pattern):
        found = original(local(pattern))
        if not os.fspath(pattern).startswith("gs://"):
            return found
        return ["gs://" + os.path.relpath(f, root) for f in found]

    def walk(original, top, **kwargs):
        yield from original(local(top), **kwargs)

    def kvstore(path):
        bucket, key = gcs_utils.parse_gcs_path(path, add_trailing_slash=False)
        return {"driver": "file", "path": str(root / bucket / key)}

    monkeypatch.setattr(gpath, "_is_tf_installed", lambda: False)
    monkeypatch.setattr(gcs_utils, "get_kvstore_for_gcs", kvstore)
    monkeypatch.setattr(gcs_utils, "is_hierarchical_namespace_enabled", lambda path: False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # A path that bypassed epath would land here.
    with epath_testing.mock_epath(
            open=one, exists=one, isdir=one, listdir=one, makedirs=one, mkdir=one, remove=one,
            rmtree=one, stat=one, rename=two, replace=two, copy=two, glob=glob, walk=walk):
        yield root
    assert not os.listdir(cwd)


def test_train_resume_sample_evaluate_on_a_gs_workdir(fake_gcs, finished_run):
    workdir = "gs://bucket/run"
    loop.train_and_evaluate(tiny_vae(num_steps=3), workdir)
    state = loop.train_and_evaluate(tiny_vae(), workdir)  # Resumes from 3.
    np.testing.assert_array_equal(flat_params(state), finished_run[1])
    assert workdir_lib.checkpoint_steps(workdir) == [3, 6]
    assert genmodels.load(workdir).step == 6
    x = np.load(api.write_samples(workdir, num_samples=8).replace("gs://", f"{fake_gcs}/"))["x"]
    assert x.shape == (8, 8, 8, 1)
    results = evaluate_cli.evaluate(workdir)
    assert results["step"] == 6 and workdir_lib.latest_eval(workdir)["bpd"] == results["bpd"]
    local = fake_gcs / "bucket" / "run"
    assert (local / "checkpoints" / "6" / "commit_success.txt").exists()  # orbax's GCS path.
    assert sorted(os.listdir(local)) == ["checkpoints", "config.json", "config_history.jsonl",
                                         "eval", "metrics.jsonl", "samples"]
    assert [r["step"] for r in workdir_lib.read_metrics(workdir, "train")] == [2, 3, 4, 6]
    assert sorted(os.listdir(local / "eval")) == ["metrics.jsonl", "step_00000006.json"]
    assert {"samples.npz", "step_00000003.png", "step_00000006.png"} <= set(
        os.listdir(local / "samples"))


def test_train_seconds_sums_each_records_steps_over_its_rate():
    records = [{"step": 100, "split": "train", "steps_per_sec": 10.0},
               {"step": 200, "split": "eval", "modes": 3},
               {"step": 200, "split": "train", "steps_per_sec": 20.0},
               {"step": 300, "split": "train"}]  # An untimed record: its steps are not counted.
    assert workdir_lib.train_seconds(records) == pytest.approx(100 / 10 + 100 / 20)
    assert workdir_lib.train_seconds(records[1:2] + records[3:]) is None
    assert workdir_lib.last_record(records)["split"] == "eval"
    assert workdir_lib.last_record(records[2:])["step"] == 300
