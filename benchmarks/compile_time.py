"""Compile time of a config's train step, with or without JAX's persistent compilation cache.

  python -m benchmarks.compile_time --config=configs/hybrid.py --cache_dir=/tmp/jax_cache

Run it twice with the same --cache_dir: the first process compiles and fills the cache (cold),
the second loads the step from it (warm). `benchmarks.run` does exactly that, each in a fresh
process. Prints one JSON line: {"lower_seconds", "compile_seconds", "cache_dir"}. The train
step is the trainer's (`make_multi_step` of `train.steps_per_call` steps, batch sharded over the
devices); data are random arrays of the dataset's shape.
"""

import functools
import json
import time

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from benchmarks import common
from genmodels import data, methods
from genmodels import parallel
from genmodels.train import loop
from genmodels.train.state import init_train_state
from genmodels.train.step import make_multi_step, make_train_step

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file[:preset].")
_CACHE_DIR = flags.DEFINE_string("cache_dir", "", "Persistent cache directory ('' = none).")


def lower_and_compile(config) -> dict:
    """Seconds to trace and lower, and to compile (or load from the cache), the train call."""
    info = data.get_info(config.data)
    method = methods.build(config, info)
    mesh = parallel.make_mesh()
    repl, stacked = parallel.replicated(mesh), parallel.stacked_data_sharding(mesh)
    k = config.train.get("steps_per_call", 1)
    host = common.random_batch(info, config.data.batch_size)
    batches = parallel.global_batch({key: np.stack([v] * k) for key, v in host.items()}, stacked)
    state = jax.eval_shape(functools.partial(init_train_state, method), jax.random.PRNGKey(0),
                           jax.tree.map(lambda x: x[0], batches))
    step = make_train_step(method, config.train.get("compute_dtype", "float32"))
    call = jax.jit(make_multi_step(step, k), in_shardings=(repl, stacked),
                   out_shardings=(repl, repl), donate_argnums=0)
    start = time.perf_counter()
    lowered = call.lower(state, batches)
    lowered_at = time.perf_counter()
    lowered.compile()
    return {"lower_seconds": lowered_at - start,
            "compile_seconds": time.perf_counter() - lowered_at}


def main(argv):
    del argv
    cache_dir = loop.enable_compilation_cache(_CACHE_DIR.value)
    print(json.dumps({**lower_and_compile(_CONFIG.value), "cache_dir": cache_dir}))


if __name__ == "__main__":
    flags.mark_flags_as_required(["config"])
    app.run(main)
