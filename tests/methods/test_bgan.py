"""BGAN / M-BGAN: set layers, symmetric discriminators, mixed batches, losses, training."""

import dataclasses
import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import configs.bgan
from genmodels import data, methods
from genmodels.methods import bgan
from genmodels.models import SetDCGANDiscriminator, SetMLPDiscriminator
from genmodels.nn import SetLayer, resolve_set_layers
from genmodels.train import loop
from genmodels.train.state import init_train_state
from genmodels.train.step import make_train_step
from genmodels.workdir import read_metrics


def tiny_bgan(preset="ring8_plain", **train):
    c = configs.bgan.get_config(preset)
    c.model.latent_dim = 4 if preset == "default" else 2
    c.model.base_features = 8
    c.model.g_hidden = (16, 16)
    c.model.d_hidden = (16, 16, 16)
    c.model.maxout = 2
    c.data.batch_size = 16
    c.train.tensorboard = False
    c.train.num_sample_images = 16
    c.eval.every = 0
    c.eval.metrics = ()
    c.train.update({**dict(num_steps=3, log_every=1, checkpoint_every=3, sample_every=3), **train})
    return c


def _init(module, x, noise=0.0):
    """Jitted init (op-by-op init compiles every primitive); noise perturbs every parameter, so
    that biases and batch-norm offsets are non-zero."""
    kwargs = {} if isinstance(module, SetLayer) else dict(train=False)

    def init(x):
        params = module.init(jax.random.key(1), x, **kwargs)
        return jax.tree.map(lambda p: p + noise * jax.random.normal(jax.random.key(2), p.shape),
                            params)

    return jax.jit(init)(x)


def _apply(module, params, x):
    return jax.jit(module.apply)(params, x)


# --- Set layers and symmetric discriminators -------------------------------------------------

@pytest.mark.parametrize("pool", ["mean", "max"])
@pytest.mark.parametrize("shape", [(7, 5), (6, 4, 4, 3)], ids=["flat", "nhwc"])
def test_set_layer_is_equivariant_and_uses_the_batch(pool, shape):
    layer = SetLayer(6, pool)
    x = jax.random.normal(jax.random.key(0), shape)
    params = _init(layer, x)
    y = _apply(layer, params, x)
    assert y.shape == (*shape[:-1], 6)
    perm = np.random.default_rng(0).permutation(shape[0])
    np.testing.assert_allclose(_apply(layer, params, x[perm]), y[perm], atol=1e-6)
    # Changing element 0 changes the outputs of the others (through the pooled statistic).
    y2 = _apply(layer, params, x.at[0].set(x[0] + 5.0))
    assert np.max(np.abs(y2[1:] - y[1:])) > 1e-3


DISCRIMINATORS = [
    (SetMLPDiscriminator(hidden=(8, 8, 8), maxout=3, set_layers=(1, 2)), (10, 2)),
    (SetMLPDiscriminator(hidden=(8, 8), maxout=1, set_layers=(0, -1), pool="max"), (10, 2)),
    (SetDCGANDiscriminator(base_features=4, use_batch_norm=True, set_layers=(0, -1)),
     (6, 16, 16, 1)),
]


@pytest.mark.parametrize("module, shape", DISCRIMINATORS, ids=["mlp", "mlp_max", "dcgan"])
def test_set_discriminator_batch_prediction_is_permutation_invariant(module, shape):
    x = jax.random.normal(jax.random.key(0), shape)
    params = _init(module, x, noise=0.1)
    run = jax.jit(lambda v, x: module.apply(v, x, train=False))
    s = run(params, x)
    assert s.shape == (shape[0],)
    perm = np.random.default_rng(1).permutation(shape[0])
    np.testing.assert_allclose(run(params, x[perm]), s[perm], atol=1e-5)
    np.testing.assert_allclose(jnp.mean(run(params, x[perm])), jnp.mean(s), atol=1e-6)
    # The scores see the batch: another element changes s_0.
    assert abs(run(params, x.at[1].set(x[1] + 3.0))[0] - s[0]) > 1e-6


def test_set_layer_positions():
    assert resolve_set_layers((1, 2), 3) == (1, 2)
    assert resolve_set_layers((-1, 3, 0), 3) == (0, 3)
    assert resolve_set_layers((), 3) == ()
    with pytest.raises(ValueError, match="model.d_set_layers.*positions are 0..3"):
        resolve_set_layers((4,), 3, "model.d_set_layers")


# --- Mixed batches ----------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.0, 0.3, 0.75, 1.0])
def test_mixed_batches_have_the_requested_real_fraction(p):
    b, draws = 100, 200
    real = jnp.ones((b, 4, 4, 1)) + jnp.arange(b)[:, None, None, None]
    fake = -real
    mix = jax.jit(jax.vmap(lambda k: bgan.mix_batches(k, real, fake, bgan.sample_ratio(k, p))))
    mixed, mask = mix(jax.random.split(jax.random.key(int(p * 1000)), draws))
    mask, mixed = np.asarray(mask), np.asarray(mixed)
    assert mask.shape == (draws, b) and mask.dtype == bool
    # The mask says exactly which slots hold the real sample (slot i: real_i or fake_i).
    np.testing.assert_array_equal(mixed, np.where(mask[..., None, None, None], real, fake))
    fraction = mask.mean()
    if p in (0.0, 1.0):
        assert np.all(mask == bool(p))
    else:
        assert abs(fraction - p) < 4 * math.sqrt(p * (1 - p) / mask.size)


def test_sampled_ratio_is_uniform():
    p = jax.jit(jax.vmap(bgan.sample_ratio))(jax.random.split(jax.random.key(0), 4000))
    assert 0.0 <= float(p.min()) and float(p.max()) < 1.0
    assert abs(float(p.mean()) - 0.5) < 4 * math.sqrt(1 / 12 / 4000)
    counts = np.histogram(np.asarray(p), bins=4, range=(0, 1))[0]
    assert np.all(np.abs(counts - 1000) < 4 * math.sqrt(1000 * 0.75))


# --- Losses -----------------------------------------------------------------------------------

def _bce(logit, t):
    d = 1 / (1 + math.exp(-logit))
    return -(t * math.log(d) + (1 - t) * math.log(1 - d))


@jax.jit
def _loss_terms(scores, two, logit):
    """Everything the hand computation checks, in one compiled function."""
    p = 0.25
    return dict(
        bgan=bgan.ratio_loss(scores, p, "bgan"), mbgan=bgan.ratio_loss(scores, p, "mbgan"),
        pred_bgan=bgan.predicted_ratio(scores, "bgan"),
        pred_mbgan=bgan.predicted_ratio(scores, "mbgan"),
        two=bgan.ratio_loss(two, jnp.array([p, 1.0]), "bgan"),
        at_optimum=bgan.ratio_loss(jnp.full((4,), logit), p, "bgan"),
        entropy=bgan.binary_entropy(jnp.float32(p)), entropy0=bgan.binary_entropy(jnp.float32(0)),
        g_bgan=bgan.generator_logits(scores, "bgan"),
        g_mbgan=bgan.generator_logits(scores, "mbgan"),
        element=bgan.element_loss(scores, jnp.array([True, False, True])))


def test_discriminator_losses_match_hand_computation():
    s, p = [2.0, -1.0, 0.5], 0.25
    sig = [1 / (1 + math.exp(-v)) for v in s]
    t = _loss_terms(jnp.array(s), jnp.array([s, [0.0, 1.0, -3.0]]), math.log(p / (1 - p)))
    # BGAN: D(b) = sigmoid(mean_i s_i) = sigmoid(0.5).
    np.testing.assert_allclose(t["bgan"], _bce(0.5, p), rtol=1e-6)
    np.testing.assert_allclose(t["pred_bgan"], 1 / (1 + math.exp(-0.5)), rtol=1e-6)
    # M-BGAN: the average of the per-element BCEs; the ensemble prediction.
    np.testing.assert_allclose(t["mbgan"], np.mean([_bce(v, p) for v in s]), rtol=1e-6)
    np.testing.assert_allclose(t["pred_mbgan"], np.mean(sig), rtol=1e-6)
    # Several mixes: the mean over mixes.
    np.testing.assert_allclose(t["two"], (_bce(0.5, p) + _bce(-2 / 3, 1.0)) / 2, rtol=1e-6)
    # The minimum of the BCE is the entropy, reached at the right prediction.
    np.testing.assert_allclose(t["at_optimum"], t["entropy"], rtol=1e-5)
    np.testing.assert_allclose(t["entropy"], -(p * math.log(p) + (1 - p) * math.log(1 - p)),
                               rtol=1e-6)
    assert float(t["entropy0"]) == 0.0
    # The generator's logits: the batch logit (bgan) or every score (mbgan).
    np.testing.assert_allclose(t["g_bgan"], [0.5], rtol=1e-6)
    np.testing.assert_allclose(t["g_mbgan"], s, rtol=1e-6)
    # The per-slot term: each score against its own slot's kind (real, generated, real).
    np.testing.assert_allclose(t["element"], (_bce(2.0, 1) + _bce(-1.0, 0) + _bce(0.5, 1)) / 3,
                               rtol=1e-6)


# --- The method -------------------------------------------------------------------------------

def initial_state(config):
    """(config, method, initial train state, first batch) of a tiny config."""
    method = methods.build(config, data.get_info(config.data))
    batch = next(data.train_batches(config.data, batch_size=config.data.batch_size, seed=0))
    batch = jax.tree.map(jnp.asarray, batch)
    state = jax.jit(functools.partial(init_train_state, method))(jax.random.key(0), batch)
    return config, method, state, batch


@pytest.fixture(scope="module")
def ring8_state():
    """(config, method, initial train state, batch) of the tiny ring8 BGAN, built once."""
    return initial_state(tiny_bgan())


def test_an_all_real_mix_is_scored_against_target_one(ring8_state):
    config, _, state, batch = ring8_state
    config = config.copy_and_resolve_references()
    config.bgan.fixed_ratio = 1.0
    method = methods.build(config, data.get_info(config.data))
    loss, (metrics, _) = jax.jit(method.player("discriminator").loss_fn)(
        state.params, state.collections, batch, jax.random.key(3))
    assert float(metrics["bgan/target"]) == 1.0
    d = bgan.build_discriminator(config, data.get_info(config.data))
    real_scores = jax.jit(functools.partial(d.apply, train=True))(
        {"params": state.params["discriminator"]}, batch["x"])
    np.testing.assert_allclose(loss, bgan.ratio_loss(real_scores, 1.0, "bgan"), rtol=1e-5)
    np.testing.assert_allclose(metrics["bgan/pred_error"], 1 - metrics["bgan/pred_real"],
                               rtol=1e-5)
    # Every slot is real, so the per-slot term is every score's BCE against 1.
    np.testing.assert_allclose(metrics["bgan/element_bce"],
                               bgan.ratio_loss(real_scores, 1.0, "mbgan"), rtol=1e-5)


@pytest.mark.parametrize("variant", ["bgan", "mbgan"])
def test_element_weight_adds_the_per_slot_term(ring8_state, variant):
    """L_D(lam) = L_D(0) + lam * element_bce on the same mixes; the generator's loss is unchanged.
    """
    config, _, state, batch = ring8_state
    out = {}
    for weight in (0.0, 0.5):
        c = config.copy_and_resolve_references()
        c.bgan.variant, c.bgan.mixes_per_step, c.bgan.element_weight = variant, 2, weight
        method = methods.build(c, data.get_info(c.data))
        out[weight] = [jax.jit(method.player(p).loss_fn)(state.params, state.collections, batch,
                                                         jax.random.key(3))
                       for p in ("discriminator", "generator")]
    (d0, (m0, _)), (g0, _) = out[0.0]
    (d1, (m1, _)), (g1, _) = out[0.5]
    np.testing.assert_allclose(m1["bgan/element_bce"], m0["bgan/element_bce"], rtol=1e-6)
    assert float(m0["bgan/element_bce"]) > 0
    np.testing.assert_allclose(d1, d0 + 0.5 * m0["bgan/element_bce"], rtol=1e-5)
    np.testing.assert_allclose(m1["bgan/d_kl"], m0["bgan/d_kl"], rtol=1e-6)  # the ratio part only
    np.testing.assert_allclose(g1, g0, rtol=1e-6)


@pytest.mark.parametrize("first, second", [("generator", "discriminator"),
                                           ("discriminator", "generator")])
def test_a_player_step_leaves_the_other_player_unchanged(ring8_state, first, second):
    _, method, state, batch = ring8_state  # The generator has batch-norm statistics, D none.
    step = jax.jit(make_train_step(dataclasses.replace(method, schedule=((first, 1),))))
    new, metrics = step(state, batch)
    assert np.isfinite(float(metrics[f"loss/{first}"]))
    unchanged = jax.tree.map(np.asarray, (state.params[second], state.collections[second]))
    after = jax.tree.map(np.asarray, (new.params[second], new.collections[second]))
    jax.tree.map(np.testing.assert_array_equal, after, unchanged)
    moved = [np.max(np.abs(a - b)) for a, b in zip(jax.tree.leaves(new.params[first]),
                                                   jax.tree.leaves(state.params[first]))]
    assert max(moved) > 0


@pytest.mark.parametrize("preset, variant, mixes",
                         [("ring8_plain", "bgan", 1), ("default", "mbgan", 2)],
                         ids=["ring8-bgan", "digits-mbgan"])
def test_trains_through_the_loop(tmp_path, preset, variant, mixes):
    config = tiny_bgan(preset)
    config.bgan.variant = variant
    config.bgan.mixes_per_step = mixes
    state = loop.train_and_evaluate(config, str(tmp_path))
    assert int(state.step) == 3
    records = read_metrics(str(tmp_path), "train")
    assert [r["step"] for r in records] == [1, 2, 3]
    for r in records:
        for key in ("loss/discriminator", "loss/generator", "bgan/d_kl", "bgan/pred_error",
                    "bgan/pred_real", "bgan/pred_fake", "bgan/target"):
            assert np.isfinite(r[key]), key
        assert r["bgan/d_kl"] >= -1e-5
        assert 0.0 <= r["bgan/pred_real"] <= 1.0 and 0.0 <= r["bgan/pred_fake"] <= 1.0
    assert os.listdir(tmp_path / "samples") == ["step_00000003.png"]


@pytest.mark.parametrize("field, value, message", [
    ("bgan.variant", "wgan", "bgan.variant.*bgan, mbgan"),
    ("bgan.target", "p", "bgan.target"),
    ("bgan.fixed_ratio", 1.5, "bgan.fixed_ratio"),
    ("bgan.mixes_per_step", 0, "bgan.mixes_per_step"),
    ("bgan.element_weight", -1.0, "bgan.element_weight"),
    ("model.set_pool", "sum", "model.set_pool.*mean, max"),
    ("model.d_set_layers", (5,), "model.d_set_layers"),
    ("losses.generator", "nope", "losses.generator"),
    ("model.arch", "sngan", "model.arch.*dcgan, mlp"),
    ("model.pack", 2, "model.pack"),
])
def test_config_errors_name_the_field(field, value, message):
    config = tiny_bgan()
    section, name = field.split(".")
    config[section][name] = value
    with pytest.raises(ValueError, match=message):
        methods.build(config, data.get_info(config.data))


@pytest.mark.parametrize("preset", ["default", "ring8_plain", "grid25_plain", "ring8", "grid25",
                                    "cifar10"])
def test_presets_build(preset):
    import tensorflow_datasets as tfds

    config = configs.bgan.get_config(preset)
    with tfds.testing.mock_data(num_examples=4):
        method = methods.build(config, data.get_info(config.data))
    assert method.name == "bgan"
