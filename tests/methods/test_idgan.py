"""ID-GAN: the frozen stage-1 encoder, the info term, the aggregate-posterior sampler, and the
two-stage command (train both, resume, start from an existing stage-1 run, mismatches)."""

import dataclasses
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import configs.idgan
import genmodels
from genmodels import api, data, methods, models
from genmodels import workdir as workdir_lib
from genmodels.methods import idgan
from genmodels.train import loop
from genmodels.train.state import init_train_state
from genmodels.train.step import make_train_step
from genmodels.workdir import read_metrics

TRAIN = dict(num_steps=4, log_every=2, checkpoint_every=2, sample_every=4, tensorboard=False,
             num_sample_images=8)


def tiny_stage1(config):
    s1 = config.stage1
    s1.model.update(dict(latent_dim=4, encoder_features=(8, 8, 8), decoder_features=(8, 8, 8),
                         dense=16))
    s1.data.batch_size = 8
    s1.train.update(TRAIN)
    s1.eval.update(dict(every=4, batch_size=16, num_examples=32, metrics=("elbo",)))


def tiny_idgan(stage1_workdir=None):
    c = configs.idgan.get_config()
    tiny_stage1(c)
    c.data.batch_size = 8
    c.model.update(dict(posterior_bank=64, nuisance_dim=2, g_features=8, d_features=8,
                        stage1_workdir=stage1_workdir))
    c.losses.info_weight = 0.5
    c.train.update(TRAIN)
    return c


@pytest.fixture(scope="module")
def stage1_dir(tmp_path_factory):
    """A tiny finished stage-1 beta-VAE run (4 steps)."""
    workdir = str(tmp_path_factory.mktemp("stage1"))
    loop.train_and_evaluate(tiny_idgan().stage1, workdir)
    return workdir


def _setup(config):
    config = loop.prepare(config, "/nonexistent-unused") if config.model.stage1_workdir else config
    info = data.get_info(config.data)
    method = methods.build(config, info)
    batch = next(data.train_batches(config.data, batch_size=8, seed=0))
    return config, method, batch, init_train_state(method, jax.random.PRNGKey(0), batch)


def _equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def test_stage2_steps_leave_the_frozen_encoder_and_bank_unchanged(stage1_dir):
    config, method, batch, state = _setup(tiny_idgan(stage1_dir))
    frozen = jax.tree.map(np.asarray, state.collections["generator"][idgan.STAGE1])
    # It is the stage-1 run's encoder (not an init or zeros) ...
    stage1_encoder = genmodels.load(stage1_dir).variables["vae"]["params"]["encoder"]
    assert _equal(frozen["encoder"], stage1_encoder)
    assert np.abs(frozen["bank"]["mean"]).max() > 0
    assert frozen["bank"]["mean"].shape == (64, 4)
    # ... and no player's update moves it, while both players do move.
    step = jax.jit(make_train_step(method))
    new = state
    for _ in range(3):
        new, metrics = step(new, batch)
    assert np.isfinite(float(metrics["info"])) and float(metrics["info"]) != 0.0
    assert _equal(new.collections["generator"][idgan.STAGE1], frozen)
    assert not _equal(new.params["generator"], state.params["generator"])
    assert not _equal(new.params["discriminator"], state.params["discriminator"])
    assert set(new.params) == {"generator", "discriminator"}  # The encoder is no player.


@pytest.mark.parametrize("player", ["generator", "discriminator"])
def test_each_player_step_leaves_the_other_unchanged(stage1_dir, player):
    _, method, batch, state = _setup(tiny_idgan(stage1_dir))
    only = dataclasses.replace(method, schedule=((player, 1),))
    new, _ = jax.jit(make_train_step(only))(state, batch)
    for name in ("generator", "discriminator"):
        assert _equal(new.params[name], state.params[name]) == (name != player), name
    assert _equal(new.collections["generator"][idgan.STAGE1],
                  state.collections["generator"][idgan.STAGE1])


def test_info_term_is_the_encoder_posterior_negative_log_density(stage1_dir):
    config, method, batch, state = _setup(tiny_idgan(stage1_dir))
    rng = jax.random.PRNGKey(11)
    params, colls = state.params, state.collections
    loss, (metrics, _) = method.player("generator").loss_fn(params, colls, batch, rng)

    # Independently, with the loss's randomness: rng -> (s, c); c -> (bank row, eps).
    frozen = colls["generator"][idgan.STAGE1]
    n, m = batch["image"].shape[0], config.model
    s_rng, c_rng = jax.random.split(rng)
    row_rng, eps_rng = jax.random.split(c_rng)
    rows = jax.random.randint(row_rng, (n,), 0, 64)
    bank_mean = np.asarray(frozen["bank"]["mean"], np.float64)[np.asarray(rows)]
    bank_scale = np.exp(np.asarray(frozen["bank"]["log_scale"], np.float64))[np.asarray(rows)]
    c = bank_mean + bank_scale * np.asarray(jax.random.normal(eps_rng, (n, 4)), np.float64)
    s = jax.random.normal(s_rng, (n, m.nuisance_dim))
    generator = models.DCGANGenerator((32, 32, 1), m.g_features, m.upsample, m.g_batch_norm)
    g_vars = {"params": params["generator"], "batch_stats": colls["generator"]["batch_stats"]}
    fake, _ = generator.apply(g_vars, jnp.concatenate([s, jnp.asarray(c, jnp.float32)], -1),
                              train=True, mutable=["batch_stats"])
    encoder = idgan.stage1_encoder(config.stage1)
    mu, log_sigma = encoder.apply({"params": frozen["encoder"]}, fake, False)
    mu, sigma = np.asarray(mu, np.float64), np.exp(np.asarray(log_sigma, np.float64))
    nll = np.sum(0.5 * ((c - mu) / sigma) ** 2 + np.log(sigma) + 0.5 * np.log(2 * np.pi), -1)
    np.testing.assert_allclose(float(metrics["info"]), nll.mean(), rtol=1e-4)
    np.testing.assert_allclose(float(loss), float(metrics["adversarial"])
                               + config.losses.info_weight * nll.mean(), rtol=1e-4)
    # The generator gets the info gradient through the frozen encoder.
    config0 = tiny_idgan(stage1_dir)
    config0.losses.info_weight = 0.0
    _, method0, _, _ = _setup(config0)

    def g_loss(meth, g):
        return meth.player("generator").loss_fn({**params, "generator": g}, colls, batch, rng)[0]

    grads = jax.grad(lambda g: g_loss(method, g) - g_loss(method0, g))(params["generator"])
    assert float(jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(grads)))) > 0


def test_bank_sampler_draws_from_the_bank_mixture():
    rng = np.random.default_rng(0)
    bank = {"mean": rng.normal(0.0, 2.0, (50, 3)).astype(np.float32),
            "log_scale": rng.normal(-1.0, 0.5, (50, 3)).astype(np.float32)}
    n = 200_000
    c = np.asarray(jax.jit(idgan.sample_codes, static_argnums=2)(
        jax.tree.map(jnp.asarray, bank), jax.random.PRNGKey(0), n), np.float64)
    mu, var = bank["mean"].astype(np.float64), np.exp(2.0 * bank["log_scale"].astype(np.float64))
    mix_mean = mu.mean(0)
    mix_var = var.mean(0) + mu.var(0)  # law of total variance over the uniform row
    se_mean = np.sqrt(mix_var / n)
    np.testing.assert_array_less(np.abs(c.mean(0) - mix_mean), 5 * se_mean)
    np.testing.assert_allclose(c.var(0), mix_var, rtol=0.03)
    # Mixture, not one Gaussian: draws land near the bank means (components are narrow here).
    nearest = np.min(np.abs(c[:2000, None, 0] - mu[None, :, 0]), axis=1)
    assert np.median(nearest) < 0.5 * np.sqrt(mix_var[0])


def test_one_command_trains_both_stages_and_resumes(tmp_path):
    workdir = str(tmp_path / "run")
    loop.train_and_evaluate(tiny_idgan(), workdir)
    stage1 = os.path.join(workdir, "stage1")
    assert [r["step"] for r in read_metrics(stage1, "train")] == [2, 4]
    records = read_metrics(workdir, "train")
    assert [r["step"] for r in records] == [2, 4]
    assert {"info", "adversarial", "penalty", "d_real"} <= set(records[-1])
    saved = api.load_config(workdir)
    assert saved.model.stage1_workdir == os.path.abspath(stage1)
    assert saved.stage1.model.latent_dim == 4

    model = genmodels.load(workdir)
    x = model.sample(6, seed=1)
    assert x.shape == (6, 32, 32, 1) and x.dtype == np.uint8
    images = next(data.eval_batches(model.config.data, "test", batch_size=8))["image"]
    codes = model.encode(images)
    np.testing.assert_allclose(codes, genmodels.load(stage1).encode(images), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_array_equal(model.reconstruct(images), model.decode(codes))
    assert model.traverse(images[0], values=[-1.0, 1.0]).shape == (4, 2, 32, 32, 1)
    api.write_samples(workdir, num_samples=8)
    for name in ("samples.png", "reconstructions.png", "interpolation.png", "traversals.png"):
        assert os.path.exists(os.path.join(workdir, "samples", name)), name

    # Finished: the same command returns at once and trains neither stage again.
    mtime = os.path.getmtime(os.path.join(stage1, "metrics.jsonl"))
    assert loop.train_and_evaluate(tiny_idgan(), workdir) is None
    assert os.path.getmtime(os.path.join(stage1, "metrics.jsonl")) == mtime
    assert len(read_metrics(workdir, "train")) == 2

    # A rerun that changes stage 1 is refused before either stage writes; no lease is left.
    changed = tiny_idgan()
    changed.stage1.model.latent_dim = 5
    with pytest.raises(workdir_lib.ConfigDriftError, match="stage1.model.latent_dim: 4 in "):
        loop.train_and_evaluate(changed, workdir)
    assert not os.path.exists(os.path.join(workdir, "lease.json"))
    assert not os.path.exists(os.path.join(stage1, "lease.json"))

    # The stage-2 checkpoint is self-contained: loading needs no stage-1 workdir.
    shutil.rmtree(stage1)
    again = genmodels.load(workdir)
    np.testing.assert_array_equal(again.encode(images), codes)
    np.testing.assert_array_equal(again.sample(6, seed=1), x)


def test_existing_stage1_workdir_skips_stage1(stage1_dir, tmp_path):
    workdir = str(tmp_path / "run")
    loop.train_and_evaluate(tiny_idgan(stage1_workdir=stage1_dir), workdir)
    assert not os.path.exists(os.path.join(workdir, "stage1"))
    saved = api.load_config(workdir)
    assert saved.model.stage1_workdir == os.path.abspath(stage1_dir)
    assert saved.stage1.to_dict() == api.load_config(stage1_dir).to_dict()
    assert [r["step"] for r in read_metrics(workdir, "train")] == [2, 4]


def test_mismatched_stage1_data_raises(stage1_dir, tmp_path):
    config = tiny_idgan()
    config.stage1.data.image_size = 64
    with pytest.raises(ValueError, match="stage1.data.image_size"):
        loop.train_and_evaluate(config, str(tmp_path / "a"))
    assert not os.path.exists(tmp_path / "a" / "stage1")  # Failed before training stage 1.
    # An existing 32-px stage-1 run under a 64-px stage 2.
    config = tiny_idgan(stage1_workdir=stage1_dir)
    config.data.image_size = config.stage1.data.image_size = 64
    with pytest.raises(ValueError, match="image shape"):
        loop.prepare(config, str(tmp_path / "b"))
    config = tiny_idgan(stage1_workdir=str(tmp_path / "missing"))
    with pytest.raises(Exception, match="missing"):
        loop.prepare(config, str(tmp_path / "c"))


def test_bad_fields_raise():
    info = data.get_info(tiny_idgan().data)
    config = tiny_idgan()
    config.model.unknown_field = 1
    with pytest.raises(ValueError, match="model.unknown_field"):
        methods.build(config, info)
    for field, value, match in [("posterior_bank", 0, "posterior_bank"),
                                ("ema_decay", 1.0, "ema_decay")]:
        config = tiny_idgan()
        config.model[field] = value
        with pytest.raises(ValueError, match=match):
            methods.build(config, info)
    config = tiny_idgan()
    config.stage1.method = "gan"
    with pytest.raises(ValueError, match="stage1.method"):
        methods.build(config, info)
    with pytest.raises(ValueError, match="valid presets"):
        configs.idgan.get_config("nope")


@pytest.mark.parametrize("preset", ["default", "dsprites64", "celeba64"])
def test_presets_build(preset):
    import tensorflow_datasets as tfds

    config = configs.idgan.get_config(preset)
    with tfds.testing.mock_data(num_examples=4):
        method = methods.build(config, data.get_info(config.data))
    assert method.name == "idgan" and method.latent_dim == config.stage1.model.latent_dim
