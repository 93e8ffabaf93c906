"""Device prefetch of the input and the persistent compilation cache leave training unchanged."""

import os
import subprocess
import sys

import grain
import jax
import numpy as np
import pytest

from genmodels import parallel
from genmodels.train import loop
from genmodels.workdir import read_metrics
from tests.helpers import REPO, flat_params, tiny_gan
from tests.test_whole_runs import TINY_VAE_FLAGS


def _host_batches(n):
    return [{"image": np.full((4, 2, 2, 1), i, np.uint8), "label": np.arange(4) + 10 * i}
            for i in range(n)]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_device_batches_stack_consecutive_steps(prefetch):
    host = _host_batches(6)
    dataset = grain.MapDataset.source(host).to_iter_dataset()
    sharding = parallel.stacked_data_sharding(parallel.make_mesh())
    calls = loop.device_batches(dataset, 3, sharding, prefetch)
    try:
        got = [next(calls) for _ in range(2)]
    finally:
        calls.close()
    for call, first in zip(got, (0, 3)):
        assert call["image"].sharding == sharding
        for key in ("image", "label"):
            np.testing.assert_array_equal(np.asarray(call[key]),
                                          np.stack([b[key] for b in host[first:first + 3]]))


def test_negative_device_prefetch_is_rejected():
    dataset = grain.MapDataset.source(_host_batches(2)).to_iter_dataset()
    with pytest.raises(ValueError, match=r"data.device_prefetch=-1 must be >= 0"):
        loop.device_batches(dataset, 1, parallel.stacked_data_sharding(parallel.make_mesh()), -1)


def test_device_prefetch_leaves_training_unchanged(tmp_path):
    def run(prefetch, name):
        c = tiny_gan(num_steps=6, log_every=2, checkpoint_every=6, sample_every=6)
        c.train.steps_per_call = 2
        c.data.device_prefetch = prefetch
        return loop.train_and_evaluate(c, str(tmp_path / name))

    np.testing.assert_array_equal(flat_params(run(3, "prefetch")), flat_params(run(0, "none")))
    fractions = [r["input_wait_fraction"] for r in read_metrics(tmp_path / "prefetch")
                 if r["split"] == "train" and "input_wait_fraction" in r]
    assert fractions and all(0.0 <= f <= 1.0 for f in fractions)


def test_enable_compilation_cache_keeps_a_directory_already_set(tmp_path):
    before = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "set"))
    try:
        assert loop.enable_compilation_cache(str(tmp_path / "other")) == str(tmp_path / "set")
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
    assert not (tmp_path / "other").exists()


def test_second_run_loads_the_cached_step_and_trains_identically(tmp_path):
    """Two fresh processes with one cache directory: the first writes the compiled train step,
    the second (a new workdir) loads it and logs exactly the same losses."""
    cache = tmp_path / "cache"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    flags = [f for f in TINY_VAE_FLAGS if "num_steps" not in f] + [
        "--config.train.num_steps=100", f"--config.train.compilation_cache_dir={cache}"]

    def run(name):
        subprocess.run([sys.executable, "-m", "experiments.main", f"--workdir={tmp_path / name}",
                        *flags], cwd=REPO, env=env, check=True, capture_output=True, timeout=600)
        return [{k: v for k, v in r.items() if k not in loop.TIMING_METRICS}
                for r in read_metrics(tmp_path / name)]

    cold = run("cold")
    steps = [f for f in os.listdir(cache) if f.startswith("jit_one_step")]
    assert steps, f"no train step in the cache: {os.listdir(cache)}"
    modified = {f: os.path.getmtime(cache / f) for f in steps}
    warm = run("warm")
    assert warm == cold
    # A cache hit reads the entry and leaves it as it was.
    assert {f: os.path.getmtime(cache / f) for f in steps} == modified
