"""The benchmark suite: train-step speed of the standard configs, scaling, sampling, compile cache.

  python -m benchmarks.run            # paper-size 32x32 presets (tens of minutes on a 2-core CPU)
  python -m benchmarks.run --quick    # the embedded-data presets, no scaling runs (a few minutes)
  python -m benchmarks.run --only=dcgan,hybrid

For each config: compile time, median step time after warm-up, examples/s, GFLOP per step from
XLA's cost analysis, achieved GFLOP/s and its ratio to the float32 matmul peak measured in the
same run, peak memory from XLA's buffer assignment, and sampling throughput. Then (full mode)
DCGAN step time against batch size and against the number of devices (forced host devices on
CPU: the same cores split into more devices, which measures the sharding overhead), and the
hybrid's compile time from a cold and a warm persistent compilation cache, each in a fresh
process. Writes benchmarks/results/suite.json (suite_quick.json with --quick).
"""

import functools
import json
import os
import subprocess
import sys
import tempfile
import time

import jax
from absl import app, flags

from benchmarks import common, train_step
from genmodels import data, methods
from genmodels.sweeps import parse_config as load_config
from genmodels import parallel
from genmodels.train.state import inference_variables, init_train_state

_QUICK = flags.DEFINE_bool("quick", False, "Embedded-data presets, fewer repeats, no scaling.")
_ONLY = flags.DEFINE_list("only", [], "Run only these suite entries (names of the table).")
_REPEATS = train_step._REPEATS  # --repeats: timed steps per config (default: 5, 3 with --quick).
flags.FLAGS.set_default("repeats", 0)

# name -> (full preset, quick preset, images sampled per timed call; 0 = no sampling timing).
# PixelCNN sampling is one network pass per pixel: benchmarks.pixelcnn_sampling times it. The
# full-size PixelCNN++ step takes minutes at batch 64 on a CPU: FULL_BATCH sets it to 16.
SUITE = {
    "dcgan": ("configs/gan.py:cifar10", "configs/gan.py", 256),
    "sngan": ("configs/gan.py:sngan_cifar10", "configs/gan.py:sngan_cifar10", 256),
    "realnvp": ("configs/flow.py:cifar10", "configs/flow.py:realnvp", 64),
    "glow": ("configs/flow.py:glow_cifar10", "configs/flow.py:glow", 64),
    "vae": ("configs/vae.py:cifar10", "configs/vae.py", 256),
    "pixelcnn": ("configs/pixelcnn.py:cifar10", "configs/pixelcnn.py", 0),
    "hybrid": ("configs/hybrid.py:cifar10", "configs/hybrid.py", 256),
    "bgan": ("configs/bgan.py:cifar10", "configs/bgan.py", 256),
}
FULL_BATCH = {"pixelcnn": 16}
BATCH_SIZES = (16, 32, 64, 128)
DEVICE_COUNTS = (1, 2, 4)


def sampling_images_per_sec(config, num_images: int, repeats: int = 3) -> float:
    """Images/s of the jitted `method.sample` at freshly initialised params."""
    info = data.get_info(config.data)
    method = methods.build(config, info)
    mesh = parallel.make_mesh()
    batch = parallel.global_batch(common.random_batch(info, config.data.batch_size),
                                  parallel.data_sharding(mesh))
    state = jax.jit(functools.partial(init_train_state, method))(jax.random.PRNGKey(0), batch)
    variables = methods.sampling_variables(method, inference_variables(state))
    sample = jax.jit(method.sample, static_argnums=2)
    seconds, _ = common.median_seconds(sample, variables, jax.random.PRNGKey(1), num_images,
                                       warmup=1, repeats=repeats)
    return num_images / seconds


def run_module(args: list[str], env: dict | None = None) -> str:
    """Runs `python -m ARGS` in a fresh process; returns its stdout."""
    out = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    if out.returncode:
        raise RuntimeError(f"python -m {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def subprocess_json(args: list[str], env: dict | None = None) -> dict:
    """Runs `python -m ARGS` in a fresh process and parses its last stdout line as JSON."""
    return json.loads(run_module(args, env).strip().splitlines()[-1])


def device_scaling(spec: str, batch_size: int, repeats: int) -> dict:
    """Step time of `spec` with the host's cores split into N forced CPU devices (or real
    devices on an accelerator host, where N beyond the device count is skipped)."""
    rows = {}
    for n in DEVICE_COUNTS:
        if jax.default_backend() != "cpu" and n > jax.device_count():
            continue
        env = {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} "
                            f"--xla_force_host_platform_device_count={n}".strip()}
        with tempfile.TemporaryDirectory() as tmp:
            run_module(["benchmarks.train_step", f"--config={spec}",
                             f"--batch_size={batch_size}", f"--repeats={repeats}",
                             "--name=_device_scaling", f"--results_dir={tmp}"], env)
            with open(os.path.join(tmp, "_device_scaling.json")) as f:
                rows[n] = json.load(f)["variants"]["as configured"]
    return rows


def compile_cache(spec: str) -> dict:
    """Train-step trace/lower and compile seconds, cold (empty cache) then warm (loaded)."""
    with tempfile.TemporaryDirectory() as cache:
        args = ["benchmarks.compile_time", f"--config={spec}", f"--cache_dir={cache}"]
        return {"cold": subprocess_json(args), "warm": subprocess_json(args)}


def main(argv):
    del argv
    quick = _QUICK.value
    repeats = _REPEATS.value or (3 if quick else 5)
    names = _ONLY.value or list(SUITE)
    unknown = sorted(set(names) - set(SUITE))
    if unknown:
        raise app.UsageError(f"--only: unknown entries {unknown}; choose from {sorted(SUITE)}.")
    peak = common.matmul_peak_gflops()
    print(f"matmul peak (2048^2 f32): {peak:.1f} GFLOP/s", flush=True)
    results = {"quick": quick, "matmul_peak_gflops": peak, "configs": {}}
    for name in names:
        full, quick_spec, num_images = SUITE[name]
        spec = quick_spec if quick else full
        config = load_config(spec)
        batch_size = config.data.batch_size if quick else FULL_BATCH.get(name,
                                                                         config.data.batch_size)
        row = train_step.measure(config, batch_size, repeats, warmup=1 if quick else 2)
        row.update(spec=spec, batch_size=batch_size,
                   fraction_of_matmul_peak=row["achieved_gflops"] / peak)
        if num_images:
            row["sample_images_per_sec"] = sampling_images_per_sec(config, num_images)
        results["configs"][name] = row
        print(f"{name:9s} {spec:32s} batch {row['batch_size']:4d} compile "
              f"{row['compile_seconds']:5.1f}s step {row['step_ms']:8.1f} ms "
              f"{row['gflop_per_step']:7.1f} GFLOP {row['achieved_gflops']:6.1f} GFLOP/s "
              f"({100 * row['fraction_of_matmul_peak']:.0f}%) {row['examples_per_sec']:7.1f} ex/s "
              f"mem {row['memory_gib']:.2f} GiB sample "
              f"{row.get('sample_images_per_sec', float('nan')):.0f} img/s", flush=True)
    if not quick and not _ONLY.value:
        dcgan = load_config(SUITE["dcgan"][0])
        results["dcgan_batch_scaling"] = {
            b: train_step.measure(dcgan, b, repeats) for b in BATCH_SIZES}
        for b, row in results["dcgan_batch_scaling"].items():
            print(f"dcgan batch {b:4d}: step {row['step_ms']:7.1f} ms "
                  f"{row['examples_per_sec']:7.1f} ex/s {row['achieved_gflops']:6.1f} GFLOP/s",
                  flush=True)
        results["dcgan_device_scaling"] = device_scaling(SUITE["dcgan"][0], 64, repeats)
        for n, row in results["dcgan_device_scaling"].items():
            print(f"dcgan {n} device(s): step {row['step_ms']:7.1f} ms "
                  f"{row['achieved_gflops']:6.1f} GFLOP/s", flush=True)
        start = time.perf_counter()
        results["hybrid_compile_cache"] = compile_cache("configs/hybrid.py")
        cc = results["hybrid_compile_cache"]
        print(f"hybrid compile: cold {cc['cold']['lower_seconds']:.1f} s trace/lower + "
              f"{cc['cold']['compile_seconds']:.1f} s compile; warm "
              f"{cc['warm']['lower_seconds']:.1f} s + {cc['warm']['compile_seconds']:.1f} s "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    path = common.write_results("suite_quick" if quick else "suite", results,
                                directory=train_step._RESULTS_DIR.value)
    print("wrote", path)


if __name__ == "__main__":
    app.run(main)
