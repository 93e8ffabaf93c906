"""Measurement helpers: step time, XLA cost-analysis FLOPs, and the machine's matmul peak."""

import ast
import functools
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from genmodels import data, methods
from genmodels import parallel
from genmodels.sweeps.overrides import apply_overrides
from genmodels.train.state import init_train_state
from genmodels.train.step import make_multi_step, make_train_step

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def compiled_flops(compiled) -> float:
    """FLOPs of one call of a compiled function, from XLA's cost analysis."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):  # Older JAX returns one dict per device program.
        analysis = analysis[0]
    return float(analysis.get("flops", float("nan")))


def compiled_memory_bytes(compiled) -> float:
    """Peak device memory of one call, from XLA's buffer assignment: arguments + outputs +
    temporaries, less the outputs that alias (donated) arguments."""
    m = compiled.memory_analysis()
    if m is None:  # Not reported by this backend.
        return float("nan")
    return float(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
                 - m.alias_size_in_bytes)


def median_seconds(fn, *args, warmup: int = 3, repeats: int = 20) -> tuple[float, list[float]]:
    """Median wall time of fn(*args) (blocking on the result) after warm-up calls."""
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Achieved GFLOP/s of an n x n float32 matmul on the default device: the reference peak."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    matmul = jax.jit(lambda x, y: x @ y)
    seconds, _ = median_seconds(matmul, a, a, repeats=repeats)
    return 2 * n**3 / seconds / 1e9


def machine() -> dict:
    return {"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
            "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "jax": jax.__version__}


def write_results(name: str, results: dict, directory: str = RESULTS_DIR) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{name}.json")
    with open(path, "w") as f:
        json.dump({"machine": machine(), **results}, f, indent=2, default=float)
    return path


def parse_variant(variant: str) -> dict:
    """';'-separated FIELD=VALUE overrides ("" for none). A value is a Python literal ("0.1",
    "(8, 8)", "False"), else the string itself ("affine")."""
    def value(text: str):
        try:
            return ast.literal_eval(text)
        except (SyntaxError, ValueError):
            return text
    pairs = [p.partition("=") for p in variant.split(";") if p]
    return {field.strip(): value(text.strip()) for field, _, text in pairs}


def with_variant(config, variant: str):
    """A copy of `config` with `parse_variant(variant)` applied, type-checked like a sweep's
    overrides (unknown fields and wrong types name the field)."""
    return apply_overrides(config, parse_variant(variant))


def random_batch(info, batch_size: int, seed: int = 0, leading: tuple = ()) -> dict:
    """Random data of the dataset's shape, [*leading, batch_size, *shape]."""
    rng = np.random.default_rng(seed)
    shape = (*leading, batch_size, *info.shape)
    if info.kind == "image":
        return {"image": rng.integers(0, 256, shape, dtype=np.uint8)}
    return {"x": rng.normal(size=shape).astype(np.float32)}


def compile_train_step(config, batch_size: int):
    """The trainer's step for `config` on a random batch of the dataset's shape, sharded over the
    devices: (compiled step, initial state, batch, compile seconds)."""
    info = data.get_info(config.data)
    method = methods.build(config, info)
    mesh = parallel.make_mesh()
    repl, sharded = parallel.replicated(mesh), parallel.data_sharding(mesh)
    batch = parallel.global_batch(random_batch(info, batch_size), sharded)
    step = jax.jit(make_train_step(method, config.train.get("compute_dtype", "float32")),
                   in_shardings=(repl, sharded), out_shardings=(repl, repl), donate_argnums=0)
    state = jax.jit(functools.partial(init_train_state, method), out_shardings=repl)(
        jax.random.PRNGKey(0), batch)
    start = time.perf_counter()
    compiled = step.lower(state, batch).compile()
    return compiled, state, batch, time.perf_counter() - start


def seeds_program(config, num_seeds: int, batch_size: int, steps_per_call: int):
    """(compiled program, states, batches, FLOPs per call): `steps_per_call` steps of
    `num_seeds` seeds in one call; num_seeds = 1 is the un-vmapped step the trainer runs."""
    info = data.get_info(config.data)
    method = methods.build(config, info)
    step_fn = make_train_step(method)
    step = make_multi_step(step_fn, steps_per_call)
    batches = jax.tree.map(jnp.asarray, random_batch(info, batch_size,
                                                     leading=(num_seeds, steps_per_call)))
    keys = jax.random.split(jax.random.PRNGKey(0), num_seeds)
    first = jax.tree.map(lambda b: b[0, 0], batches)
    states = jax.jit(jax.vmap(lambda k: init_train_state(method, k, first)))(keys)
    if num_seeds == 1:
        states, batches = jax.tree.map(lambda a: a[0], (states, batches))
    else:
        step = jax.vmap(step)
    compiled = jax.jit(step, donate_argnums=0).lower(states, batches).compile()
    return compiled, states, batches, compiled_flops_per_call(step_fn, num_seeds, states,
                                                              batches, steps_per_call)


def compiled_flops_per_call(step_fn, num_seeds: int, states, batches, steps_per_call: int):
    """FLOPs of one call: XLA's count for one step of the S seeds (a scan's body would be
    counted once), times the steps per call."""
    one = step_fn if num_seeds == 1 else jax.vmap(step_fn)
    first = jax.tree.map(lambda b: b[:, 0] if num_seeds > 1 else b[0], batches)
    return steps_per_call * compiled_flops(jax.jit(one).lower(states, first).compile())
