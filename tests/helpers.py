"""Tiny configs and utilities shared by the tests."""

import os
import subprocess
import sys

import jax
import numpy as np

import configs.gan
import configs.vae
from genmodels import parallel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_vae(**train):
    c = configs.vae.get_config()
    c.model.latent_dim = 4
    c.model.encoder_features = (8,)
    c.model.decoder_features = (8,)
    c.model.dense = 16
    c.data.batch_size = 16
    c.eval.batch_size = 64
    c.eval.num_examples = 64
    c.train.tensorboard = False
    c.train.update({**dict(num_steps=6, log_every=2, checkpoint_every=3, sample_every=3), **train})
    c.eval.every = 3
    return c


def tiny_gan(**train):
    c = configs.gan.get_config()
    c.model.latent_dim = 4
    c.model.base_features = 8
    c.data.batch_size = 16
    c.train.tensorboard = False
    c.train.update({**dict(num_steps=6, log_every=2, checkpoint_every=3, sample_every=3), **train})
    return c


def tiny_points_gan(**train):
    """tiny_gan on the ring8 points with small MLPs (the 2-D mixture architecture, shrunk)."""
    c = tiny_gan(**train)
    c.data.name = "ring8"
    c.model.update(dict(arch="mlp", g_hidden=(16, 16), d_hidden=(16,)))
    return c


def small_sample_eval(config, cache):
    """`config` with sample-metric counts small enough for a test, its caches in `cache`."""
    config.eval.update(dict(cache_dir=str(cache), num_samples=128, num_real=256,
                            feature_batch_size=64, classifier_steps=100, kid_subsets=10,
                            kid_subset_size=64, prdc_num_samples=128))
    return config


def flat_params(state_or_model) -> np.ndarray:
    """All params of all players as one float64 vector (order fixed by the pytree)."""
    leaves = jax.tree.leaves(parallel.to_host(state_or_model.params))
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in leaves])


def run_python(code: str, *args: str, env: dict | None = None, timeout: int = 300,
               check: bool = True):
    """Runs `python -c code args...` from the repo root with extra environment variables."""
    full_env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=full_env,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"subprocess failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result
