"""Seeds in one compiled program: seed-steps per second of a train step vmapped over S seeds,
against the single-seed step, in the same process (issue 26's speed question).

  python -m benchmarks.seed_vmap --config=configs/gan.py:grid25_protocol --seeds=1,2,4,8
  python -m benchmarks.seed_vmap --override=train.cpu_ynn_fusions=True --name=seed_vmap_ynn_on

The config's train.cpu_ynn_fusions applies as in training (the 2-D presets turn YNNPACK's
fusions off); the XLA_FLAGS the run had are in the results.

For each S in --seeds, one jitted call runs --steps_per_call train steps (a lax.scan, as the
2-D sweeps run) of S independent states (own init key, own batches) under jax.vmap; S = 1 is
the plain, un-vmapped step. The S are timed in alternation, --rounds times, so that a change in
the machine's speed hits every S alike; the median call time gives seed-steps/s and, with XLA's
cost analysis, GFLOP/s. Two references are timed in the same process: the 2048^2 float32 matmul
peak, and the peak of a matmul of the protocol's own shape ([--batch_size x 400] @ [400 x 400]),
which bounds what a step made of such matmuls can reach. Writes benchmarks/results/<name>.json.
"""

import os
import statistics
import time

import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import common
from genmodels import parallel
from genmodels.sweeps.overrides import parse_config

_CONFIG = flags.DEFINE_string("config", "configs/gan.py:grid25_protocol", "Config file[:preset].")
_OVERRIDES = flags.DEFINE_multi_string("override", [], "FIELD=VALUE, as --config.FIELD=VALUE.")
_SEEDS = flags.DEFINE_list("seeds", ["1", "2", "4", "8"], "Numbers of seeds per program.")
_BATCH = flags.DEFINE_integer("batch_size", 100, "Batch size of each seed.")
_STEPS = flags.DEFINE_integer("steps_per_call", 50, "Train steps per call (lax.scan).")
_ROUNDS = flags.DEFINE_integer("rounds", 15, "Timed calls per S, in alternation.")
_NAME = flags.DEFINE_string("name", "seed_vmap", "Results file name.")


def matmul_references(rows: int, width: int = 400, n: int = 2048):
    """{name: (jitted fn, args, FLOPs per call)}: the 2048^2 float32 matmul (the machine's
    peak) and 16 chained [rows x width] @ [width x width] matmuls (the protocol's shape)."""
    key = jax.random.PRNGKey(0)
    square = jax.random.normal(key, (n, n), jnp.float32)
    x = jax.random.normal(key, (rows, width), jnp.float32)
    w = jax.random.normal(key, (16, width, width), jnp.float32) / width**0.5
    chain = jax.jit(lambda x, w: jax.lax.fori_loop(0, 16, lambda i, h: jnp.tanh(h @ w[i]), x))
    return {"matmul_peak": (jax.jit(lambda a: a @ a), (square,), 2 * n**3),
            "small_matmul_peak": (chain, (x, w), 2 * rows * width * width * 16)}


def main(argv):
    del argv
    config = parse_config(_CONFIG.value, [f"--config.{o}" for o in _OVERRIDES.value])
    parallel.configure_xla_cpu(config.train)  # As the trainer does, before JAX starts.
    sizes = [int(s) for s in _SEEDS.value]
    programs = {s: common.seeds_program(config, s, _BATCH.value, _STEPS.value) for s in sizes}
    references = matmul_references(_BATCH.value)
    states = {s: programs[s][1] for s in sizes}
    times = {key: [] for key in [*sizes, *references]}
    for round_index in range(_ROUNDS.value + 2):  # The first two rounds warm up.
        for s in sizes:
            compiled, _, batches, _ = programs[s]
            start = time.perf_counter()
            states[s] = jax.block_until_ready(compiled(states[s], batches)[0])
            if round_index >= 2:
                times[s].append(time.perf_counter() - start)
        for name, (fn, args, _) in references.items():
            for _ in range(5):
                start = time.perf_counter()
                jax.block_until_ready(fn(*args))
                if round_index >= 2:
                    times[name].append(time.perf_counter() - start)
    peak, small_peak = (references[name][2] / statistics.median(times[name]) / 1e9
                        for name in references)
    rows = {}
    for s in sizes:
        seconds = statistics.median(times[s])
        rows[str(s)] = {
            "call_ms": 1e3 * seconds, "call_ms_min": 1e3 * min(times[s]),
            "call_ms_max": 1e3 * max(times[s]),
            "seed_steps_per_sec": s * _STEPS.value / seconds,
            "gflop_per_seed_step": programs[s][3] / s / _STEPS.value / 1e9,
            "achieved_gflops": programs[s][3] / seconds / 1e9,
        }
    base = rows[str(sizes[0])]["seed_steps_per_sec"]
    for s in sizes:
        row = rows[str(s)]
        row["speedup_vs_first"] = row["seed_steps_per_sec"] / base
        row["fraction_of_matmul_peak"] = row["achieved_gflops"] / peak
        row["fraction_of_small_matmul_peak"] = row["achieved_gflops"] / small_peak
        print(f"S={s:3d}  call {row['call_ms']:8.1f} ms  {row['seed_steps_per_sec']:8.0f} "
              f"seed-steps/s (x{row['speedup_vs_first']:.2f})  {row['gflop_per_seed_step']:.3f} "
              f"GFLOP/seed-step  {row['achieved_gflops']:6.1f} GFLOP/s = "
              f"{100 * row['fraction_of_matmul_peak']:.0f}% of peak, "
              f"{100 * row['fraction_of_small_matmul_peak']:.0f}% of the small-matmul peak")
    print(f"matmul peak (2048^2 f32): {peak:.1f} GFLOP/s; [{_BATCH.value}x400]@[400x400]: "
          f"{small_peak:.1f} GFLOP/s")
    path = common.write_results(_NAME.value, results={
        "config": _CONFIG.value, "overrides": _OVERRIDES.value, "batch_size": _BATCH.value,
        "steps_per_call": _STEPS.value, "rounds": _ROUNDS.value,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "matmul_peak_gflops": peak, "small_matmul_peak_gflops": small_peak, "seeds": rows})
    print("wrote", path)


if __name__ == "__main__":
    app.run(main)
