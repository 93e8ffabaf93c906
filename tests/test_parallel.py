"""Multi-device and multi-process training: same numbers as one device."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from genmodels.parallel import YNN_OFF_FLAG
from tests.helpers import REPO, run_python

SHARDED = """
import json, sys, jax
from genmodels.train import loop
from genmodels.workdir import read_metrics
from tests.helpers import flat_params, tiny_gan, tiny_vae
assert jax.device_count() == 8, jax.devices()
out = {}
for name, make in (("vae", tiny_vae), ("gan", tiny_gan)):
    runs = {}
    for n in (1, 8):
        wd = f"{sys.argv[1]}/{name}_{n}"
        state = loop.train_and_evaluate(make(num_steps=3), wd, devices=jax.devices()[:n])
        runs[n] = {"params": flat_params(state).tolist(),
                   "metrics": read_metrics(wd, "train")[-1]}
    out[name] = runs
print("RESULT" + json.dumps(out))
"""


def test_sharded_step_equals_single_device(tmp_path):
    result = run_python(SHARDED, str(tmp_path),
                        env={"XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
    out = json.loads(result.stdout.split("RESULT")[-1])
    for name, runs in out.items():
        one, eight = runs["1"], runs["8"]
        # Float32 sums are reordered across devices: equal to ~1e-6 relative after 3 steps.
        np.testing.assert_allclose(eight["params"], one["params"], rtol=1e-5, atol=1e-6,
                                   err_msg=name)
        for key, value in one["metrics"].items():
            if key.startswith(("loss/", "grad_norm/", "bpd", "elbo", "kl", "recon")):
                np.testing.assert_allclose(eight["metrics"][key], value, rtol=1e-5, err_msg=key)


DISTRIBUTED = """
import json, sys
from genmodels.train import loop
from tests.helpers import flat_params, tiny_vae
config = tiny_vae(num_steps=2, checkpoint_every=2)
config.distributed.enabled = True
config.distributed.coordinator_address = "localhost:PORT"
config.distributed.num_processes = 2
config.distributed.process_id = int(sys.argv[1])
state = loop.train_and_evaluate(config, "WORKDIR")
import jax
assert jax.process_count() == 2 and jax.device_count() == 2
p = flat_params(state)
print("RESULT" + json.dumps({"step": int(state.step), "params": p.tolist()}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_train_and_agree(tmp_path):
    code = DISTRIBUTED.replace("PORT", str(_free_port())).replace("WORKDIR", str(tmp_path / "run"))
    # Output goes to files: a full pipe would block one process and hang both at shutdown.
    logs = [(open(tmp_path / f"out{i}", "w+"), open(tmp_path / f"err{i}", "w+")) for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], cwd=REPO, text=True,
                              stdout=out, stderr=err, env={**os.environ, "JAX_PLATFORMS": "cpu"})
             for i, (out, err) in enumerate(logs)]
    for p, (_, err) in zip(procs, logs):
        p.wait(timeout=300)
        err.seek(0)
        assert p.returncode == 0, err.read()[-4000:]
    results = []
    for out, _ in logs:
        out.seek(0)
        results.append(json.loads(out.read().split("RESULT")[-1]))
    assert results[0]["step"] == results[1]["step"] == 2
    np.testing.assert_array_equal(results[0]["params"], results[1]["params"])
    assert (tmp_path / "run" / "checkpoints" / "2").is_dir()


YNN = """
import json, os, sys
import numpy as np
from ml_collections import ConfigDict
from genmodels import parallel
train = ConfigDict({"cpu_ynn_fusions": sys.argv[1] == "on"})
applied = parallel.configure_xla_cpu(train)
import jax, jax.numpy as jnp
x = jax.random.normal(jax.random.PRNGKey(0), (100, 400))
w = jax.random.normal(jax.random.PRNGKey(1), (400, 400))
dense = jax.jit(lambda x, w: jax.nn.relu(x @ w) @ w)
hlo = dense.lower(x, w).compile().as_text()
late = parallel.configure_xla_cpu(ConfigDict({"cpu_ynn_fusions": False}))
print("RESULT" + json.dumps({"applied": applied, "late": late, "ynn_in_hlo": "ynn" in hlo,
                             "xla_flags": os.environ.get("XLA_FLAGS", ""),
                             "y": np.asarray(dense(x, w)).ravel()[:2000].tolist()}))
"""


def test_cpu_ynn_fusions_off_reaches_xla_before_the_backend_and_keeps_the_numbers():
    runs = {}
    for mode in ("off", "on"):
        out = run_python(YNN, mode, env={"XLA_FLAGS": ""}).stdout
        runs[mode] = json.loads(out.split("RESULT")[-1])
    off, on = runs["off"], runs["on"]
    assert off["applied"] and YNN_OFF_FLAG in off["xla_flags"].split()
    assert not off["ynn_in_hlo"]  # XLA compiled the dots without YNNPACK fusions.
    assert not on["applied"] and YNN_OFF_FLAG not in on["xla_flags"]
    # Once the backend has started, XLA_FLAGS is not read again: a late call reports whether
    # the running backend has the flag, and changes nothing.
    assert off["late"] and not on["late"]
    np.testing.assert_allclose(off["y"], on["y"], rtol=1e-4, atol=1e-3)
