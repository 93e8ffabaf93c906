"""Check a machine or a pod before a long run: processes, devices, the mesh, one train step.

  python -m experiments.check_devices                       # a small GAN step on ring8
  python -m experiments.check_devices --config=configs/gan.py:cifar10 \
      --config.distributed.enabled=True                     # that config's step, on a pod

Run it with the same launcher, environment and config flags as the training command (on a pod:
on every worker). Each process starts jax.distributed exactly as training does (the config's
`distributed` block or JAX_COORDINATOR_ADDRESS), builds the mesh training would build
(genmodels.parallel), loads one global batch through the training input pipeline, compiles the
config's train step and times `--steps` calls of it. It prints a readable summary and, as its
last line, the same facts as one JSON object (one line per process). The loss of the timed steps
is in the JSON: every process holds the same replicated value, so differing losses across
processes mean the processes do not form one computation.

Without --config it checks configs/gan.py:ring8_plain (two MLP players on 2-D points: quick to
compile, no data files) with data.batch_size = 8 x the device count, so the step splits over any
number of devices; a given --config keeps its own batch size.
"""

import json
import os
import statistics
import time

import jax
from absl import app, flags
from ml_collections import config_flags

from genmodels import data, methods, parallel
from genmodels.train.state import init_train_state
from genmodels.train.step import make_train_step

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "configs", "gan.py:ring8_plain")
_CONFIG = config_flags.DEFINE_config_file(
    "config", _DEFAULT_CONFIG, "Config file[:preset] whose train step is timed (default: "
    "configs/gan.py:ring8_plain with 8 examples per device).")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed train steps after the compiling one.")


def device_report(mesh) -> dict:
    """Processes, devices and the mesh, as seen by this process."""
    per_process = {}
    for d in jax.devices():
        per_process[d.process_index] = per_process.get(d.process_index, 0) + 1
    return {
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "backend": jax.default_backend(),
        "jax": jax.__version__,
        "local_devices": [str(d) for d in jax.local_devices()],
        "local_device_count": jax.local_device_count(),
        "device_count": jax.device_count(),
        "device_kinds": sorted({d.device_kind for d in jax.devices()}),
        "devices_per_process": {str(k): v for k, v in sorted(per_process.items())},
        "mesh": {"axes": dict(mesh.shape), "device_ids": [int(d.id) for d in mesh.devices.flat]},
    }


def time_train_step(config, mesh, steps: int) -> dict:
    """Compiles the config's train step on one global batch from the training pipeline and
    times `steps` further calls (median and min, in ms, each blocking on the result)."""
    info = data.get_info(config.data)
    method = methods.build(config, info)
    batch_size = config.data.batch_size
    parallel.check_batch_size(batch_size, "data.batch_size", mesh)
    repl, sharded = parallel.replicated(mesh), parallel.data_sharding(mesh)
    host_batch = next(iter(data.train_dataset(config.data, batch_size=batch_size,
                                              seed=config.seed)))
    batch = parallel.global_batch(host_batch, sharded)
    state = jax.jit(lambda key, b: init_train_state(method, key, b), out_shardings=repl)(
        jax.random.PRNGKey(config.seed), batch)
    step = jax.jit(make_train_step(method, config.train.get("compute_dtype", "float32")),
                   in_shardings=(repl, sharded), out_shardings=(repl, repl), donate_argnums=0)
    start = time.perf_counter()
    compiled = step.lower(state, batch).compile()
    compile_s = time.perf_counter() - start
    state, metrics = jax.block_until_ready(compiled(state, batch))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = jax.block_until_ready(compiled(state, batch))
        times.append(time.perf_counter() - start)
    losses = {k: float(v) for k, v in parallel.to_host(metrics).items() if k.startswith("loss/")}
    return {"method": config.method, "data": config.data.name, "global_batch": batch_size,
            "host_batch": batch_size // jax.process_count(), "compile_s": compile_s,
            "steps_timed": steps, "step_ms": 1e3 * statistics.median(times) if times else None,
            "step_ms_min": 1e3 * min(times) if times else None, "losses": losses}


def summary(report: dict) -> str:
    """The report as readable lines (the JSON line follows them)."""
    lines = [
        (f"process {report['process_index']} of {report['process_count']} "
         f"(backend {report['backend']}, jax {report['jax']})"),
        f"local devices ({report['local_device_count']}): {', '.join(report['local_devices'])}",
        (f"global devices: {report['device_count']} {report['device_kinds']}, per process "
         f"{report['devices_per_process']}"),
        f"mesh: {report['mesh']['axes']} over device ids {report['mesh']['device_ids']}",
    ]
    if "step_ms" in report:
        step = "n/a" if report["step_ms"] is None else f"{report['step_ms']:.2f} ms"
        lines.append(
            f"train step ({report['method']} on {report['data']}, global batch "
            f"{report['global_batch']}, {report['host_batch']} per host): compile "
            f"{report['compile_s']:.1f} s, step {step} (median of {report['steps_timed']}), "
            f"losses {report['losses']}")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if _STEPS.value < 1:
        raise app.UsageError(f"--steps={_STEPS.value} must be >= 1.")
    config = _CONFIG.value
    parallel.maybe_initialize_distributed(config.distributed)
    if not flags.FLAGS["config"].present:  # The default check: a step that fits any mesh.
        config.data.batch_size = 8 * jax.device_count()
    mesh = parallel.make_mesh()
    report = device_report(mesh)
    report.update(time_train_step(config, mesh, _STEPS.value))
    print(summary(report), flush=True)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    app.run(main)
