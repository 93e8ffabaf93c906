"""Train-step speed of a config: compile time, median step time, achieved GFLOP/s vs matmul peak.

  python -m benchmarks.train_step --config=configs/gan.py:cifar10 --variants=model.upsample=subpixel,model.upsample=transpose

Data come from random arrays of the dataset's shape (DatasetInfo), so no dataset is needed.
Writes benchmarks/results/<name>.json and prints a table.
"""

import time

import jax
from absl import app, flags
from ml_collections import config_flags

from benchmarks import common

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file[:preset].")
_VARIANTS = flags.DEFINE_list("variants", [""], "Comma-separated variants, one run each: "
                              "FIELD=VALUE overrides joined by ';' (common.parse_variant; empty "
                              "string: the config as is).")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Global batch size.")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed steps.")
_NAME = flags.DEFINE_string("name", "train_step", "Results file name.")
_RESULTS_DIR = flags.DEFINE_string("results_dir", common.RESULTS_DIR, "Where results go.")


def measure(config, batch_size: int, repeats: int, warmup: int = 3) -> dict:
    compiled, state, batch, compile_seconds = common.compile_train_step(config, batch_size)
    flops = common.compiled_flops(compiled)
    memory_gib = common.compiled_memory_bytes(compiled) / 2**30

    def run(state):
        return compiled(state, batch)[0]

    for _ in range(warmup):
        state = jax.block_until_ready(run(state))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        state = jax.block_until_ready(run(state))
        times.append(time.perf_counter() - t0)
    seconds = sorted(times)[len(times) // 2]
    return {"compile_seconds": compile_seconds, "step_ms": 1e3 * seconds,
            "step_ms_min": 1e3 * min(times), "step_ms_max": 1e3 * max(times),
            "gflop_per_step": flops / 1e9, "achieved_gflops": flops / seconds / 1e9,
            "examples_per_sec": batch_size / seconds, "memory_gib": memory_gib}


def main(argv):
    del argv
    peak = common.matmul_peak_gflops()
    rows = {}
    for variant in _VARIANTS.value:
        result = measure(common.with_variant(_CONFIG.value, variant), _BATCH.value, _REPEATS.value)
        result["fraction_of_matmul_peak"] = result["achieved_gflops"] / peak
        rows[variant or "as configured"] = result
        print(f"{variant or 'as configured':32s} compile {result['compile_seconds']:6.1f}s  "
              f"step {result['step_ms']:8.1f} ms  {result['gflop_per_step']:7.2f} GFLOP  "
              f"{result['achieved_gflops']:7.1f} GFLOP/s ({100 * result['fraction_of_matmul_peak']:.0f}%"
              " of matmul peak)")
    print(f"matmul peak (2048^2 f32): {peak:.1f} GFLOP/s")
    path = common.write_results(_NAME.value, directory=_RESULTS_DIR.value, results={
        "config": _CONFIG.value.to_dict(), "batch_size": _BATCH.value,
        "matmul_peak_gflops": peak, "variants": rows})
    print("wrote", path)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config"])
    app.run(main)
