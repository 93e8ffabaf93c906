"""experiments.check_devices: devices, mesh and a timed train step, on forced host devices and on
two processes that find each other through SLURM's environment variables (jax.distributed's
auto-detection, as under `srun`)."""

import contextlib
import json
import math
import os
import socket
import subprocess
import sys

from tests.helpers import REPO

# The default check (configs/gan.py:ring8_plain) with one-layer MLPs: the same code, a faster
# compile.
COMMAND = [sys.executable, "-m", "experiments.check_devices", "--steps=2",
           "--config.model.g_hidden=(16,)", "--config.model.d_hidden=(16,)"]


def _env(devices: int, **extra) -> dict:
    return {**os.environ, "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", **extra}


def _report(stdout: str) -> dict:
    """The JSON object on the last line of stdout (the parseable part of the output)."""
    return json.loads(stdout.strip().splitlines()[-1])


def _check_step(report: dict) -> None:
    assert report["steps_timed"] == 2 and report["step_ms"] > 0 and report["compile_s"] > 0
    assert set(report["losses"]) == {"loss/discriminator", "loss/generator"}
    assert all(math.isfinite(v) for v in report["losses"].values())


def test_forced_host_devices():
    result = subprocess.run(COMMAND, cwd=REPO, env=_env(4), capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    report = _report(result.stdout)
    assert (report["process_index"], report["process_count"]) == (0, 1)
    assert report["local_devices"] == ["cpu:0", "cpu:1", "cpu:2", "cpu:3"]
    assert report["mesh"] == {"axes": {"data": 4}, "device_ids": [0, 1, 2, 3]}
    assert report["global_batch"] == 32 and report["host_batch"] == 32  # 8 per device.
    _check_step(report)
    assert "mesh: {'data': 4}" in result.stdout  # The readable summary precedes the JSON.


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_auto_detected_from_slurm_env(tmp_path):
    slurm = {"SLURM_JOB_ID": "1", "SLURM_STEP_NODELIST": "localhost", "SLURM_NTASKS": "2",
             "JAX_COORDINATOR_PORT": str(_free_port())}
    # Output goes to files: a full pipe would block one process and hang both.
    with contextlib.ExitStack() as files:
        logs = [(files.enter_context(open(tmp_path / f"out{i}", "w+")),
                 files.enter_context(open(tmp_path / f"err{i}", "w+"))) for i in range(2)]
        procs = [subprocess.Popen(
            [*COMMAND, "--config.distributed.enabled=True"], cwd=REPO, stdout=out, stderr=err,
            text=True, env=_env(2, SLURM_PROCID=str(i), SLURM_LOCALID=str(i), **slurm))
            for i, (out, err) in enumerate(logs)]
        reports = []
        for p, (out, err) in zip(procs, logs):
            p.wait(timeout=300)
            out.seek(0), err.seek(0)
            assert p.returncode == 0, err.read()[-4000:]
            reports.append(_report(out.read()))
    assert [r["process_index"] for r in reports] == [0, 1]
    for r in reports:
        assert r["process_count"] == 2 and r["device_count"] == 4
        assert r["devices_per_process"] == {"0": 2, "1": 2}
        assert r["mesh"]["axes"] == {"data": 4}
        assert r["global_batch"] == 32 and r["host_batch"] == 16
        _check_step(r)
    assert reports[0]["mesh"] == reports[1]["mesh"]
    assert reports[0]["local_devices"] != reports[1]["local_devices"]
    assert reports[0]["losses"] == reports[1]["losses"]  # One computation, replicated result.
