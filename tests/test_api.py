"""genmodels.load and the trained-run tools (genmodels/api.py): sample mode, latent tools and
traversals, evaluate_checkpoint, and the tools a method lacks."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import genmodels
from genmodels import api
from genmodels.methods.base import Method
from genmodels.train import loop
from genmodels.train.images import image_grid
from genmodels.train.state import TrainState
from tests.helpers import tiny_gan, tiny_vae

L, H = 5, 8  # code dims; the fake images are L x H x 1, row i holding code dim i.


def _fake_model():
    """A model whose decoder writes code dim i into image row i (scaled to uint8) and whose
    encoder reads it back: every code a traversal decodes can be read off its image."""

    def encode(variables, x):
        return x[:, :, 0, 0].astype(jnp.float32) / 20.0 - 5.0

    def decode(variables, z):
        rows = jnp.clip(jnp.round((z + 5.0) * 20.0), 0, 255).astype(jnp.uint8)
        return jnp.broadcast_to(rows[:, :, None, None], (z.shape[0], L, H, 1))

    method = Method(name="fake", players=(), schedule=(), init=lambda rng, batch: {},
                    sample=lambda v, rng, n: jnp.zeros((n, L, H, 1), jnp.uint8), encode=encode,
                    decode=decode, latent_dim=L)
    state = TrainState(step=jnp.zeros((), jnp.int32), rng=jax.random.PRNGKey(0), params={},
                       collections={}, opt_state={}, ema_params={})
    return api.TrainedModel(None, method, None, state, 0, None), encode, decode


def test_traversal_of_dim_d_changes_only_code_dim_d():
    model, encode, decode = _fake_model()
    z0 = np.array([0.5, -1.0, 1.5, 0.0, -0.25], np.float32)
    x = np.asarray(decode(None, jnp.asarray(z0[None])))[0]
    values = np.array([-2.0, -1.0, 0.0, 1.5], np.float32)
    grid = model.traverse(x, values=values)
    assert grid.shape == (L, len(values), L, H, 1) and grid.dtype == np.uint8
    codes = np.asarray(encode(None, jnp.asarray(grid.reshape(-1, L, H, 1)))).reshape(L, 4, L)
    for d in range(L):
        others = [k for k in range(L) if k != d]
        np.testing.assert_allclose(codes[d, :, d], values, atol=1e-6)
        np.testing.assert_allclose(codes[d][:, others], np.broadcast_to(z0[others], (4, L - 1)),
                                   atol=1e-6)
    # A subset of dims, in the order given; a batch of one image works too.
    sub = model.traverse(x[None], dims=[3, 1], values=values)
    np.testing.assert_array_equal(sub, grid[[3, 1]])
    with pytest.raises(ValueError, match="outside"):
        model.traverse(x, dims=[L])
    with pytest.raises(ValueError, match="one image"):
        model.traverse(np.stack([x, x]))


def test_traversal_dims_picks_the_most_varying_dims():
    codes = np.zeros((10, 20))
    codes[:, [2, 7, 15]] = np.linspace(-1.0, 1.0, 10)[:, None] * [1.0, 3.0, 2.0]
    assert api.traversal_dims(codes, max_dims=2) == [7, 15]
    assert api.traversal_dims(codes[:, :4], max_dims=8) == [0, 1, 2, 3]


def test_vae_traversals_decode_the_edited_codes_and_sample_mode_writes_them(tmp_path):
    workdir = str(tmp_path)
    loop.train_and_evaluate(tiny_vae(), workdir)
    model = genmodels.load(workdir)
    x = model.sample(1, seed=3)[0]
    values = np.linspace(-2.0, 2.0, 5)
    grid = model.traverse(x, values=values)
    assert grid.shape == (4, 5, 8, 8, 1) and grid.dtype == np.uint8
    z = model.encode(x[None])[0]
    for d in (0, 3):
        codes = np.repeat(z[None], 5, axis=0)
        codes[:, d] = values
        np.testing.assert_array_equal(grid[d], model.decode(codes))
    assert not np.array_equal(grid[0, 0], grid[0, -1])  # The decoder reacts to the edit.

    api.write_samples(workdir, num_samples=16)
    path = os.path.join(workdir, "samples", "traversals.png")
    assert os.path.exists(path)
    from PIL import Image

    rows = model.traverse(x)  # 4 dims x 7 default values, as in the file
    expected = image_grid(rows.reshape((-1, 8, 8, 1)), columns=7)
    assert Image.open(path).size == (expected.shape[1], expected.shape[0]) == (7 * 9 - 1, 4 * 9 - 1)


def test_sample_mode_and_latent_tools(tmp_path):
    from genmodels import api

    workdir = str(tmp_path)
    loop.train_and_evaluate(tiny_vae(), workdir)
    path = api.write_samples(workdir, num_samples=300)
    x = np.load(path)["x"]
    assert x.shape == (300, 8, 8, 1) and x.dtype == np.uint8
    for name in ("samples.png", "reconstructions.png", "interpolation.png"):
        assert os.path.exists(os.path.join(workdir, "samples", name))
    model = genmodels.load(workdir)
    images = model.sample(4)
    z = model.encode(images)
    assert z.shape == (4, 4)
    np.testing.assert_array_equal(model.decode(z), model.reconstruct(images))
    path = model.interpolate(images[0], images[1], num=5)
    np.testing.assert_array_equal(path[0], model.decode(z[:1])[0])
    np.testing.assert_array_equal(path[-1], model.decode(z[1:2])[0])
    bpd = model.bpd(images)
    assert bpd.shape == (4,) and np.all(bpd > 0)
    results = api.evaluate_checkpoint(workdir)
    saved = json.load(open(os.path.join(workdir, "eval", "step_00000006.json")))
    assert saved == results and saved["step"] == 6 and saved["num_examples"] == 64


def test_gan_has_no_likelihood_tools(tmp_path):
    loop.train_and_evaluate(tiny_gan(), str(tmp_path))
    model = genmodels.load(str(tmp_path))
    with pytest.raises(NotImplementedError, match="no bpd"):
        model.bpd(np.zeros((2, 8, 8, 1), np.uint8))
