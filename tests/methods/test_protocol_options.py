"""The 2-D protocol options of issue 26: simultaneous updates, N(0, 0.02) init, the MLP
generator's batch-norm constants, EMA sampling statistics and the protocol presets."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import configs.ali
import configs.bgan
import configs.gan
from genmodels import config as config_lib
from genmodels import data, methods, models
from genmodels.methods import adversarial, optim
from genmodels.train.state import init_train_state
from genmodels.train.step import make_train_step
from tests.helpers import tiny_points_gan


def _setup(config):
    info = data.get_info(config.data)
    method = methods.build(config, info)
    batch = jax.tree.map(jnp.asarray, next(data.train_batches(
        config.data, batch_size=config.data.batch_size, seed=0)))
    return info, method, batch, init_train_state(method, jax.random.PRNGKey(0), batch)


def _adam_step(config_block, params, grads):
    opt = optax.adam(config_block.learning_rate, b1=config_block.b1, b2=config_block.b2)
    updates, _ = opt.update(grads, opt.init(params), params)
    return optax.apply_updates(params, updates)


def _by_hand(config, info, state, batch, d_params, d_rng, g_rng):
    """The first step's (D, G) params: D's update at the init params with fakes from d_rng's
    z, G's at `d_params` with z from g_rng (non-saturating losses, Adam)."""
    generator, discriminator = adversarial.build_networks(config, info)
    p, colls = state.params, state.collections
    n, latent = batch["x"].shape[0], config.model.latent_dim

    def fake(g, rng):
        return generator.apply({"params": g, **colls["generator"]},
                               jax.random.normal(rng, (n, latent)), train=True,
                               mutable=["batch_stats"])[0]

    def d_loss(d):
        real = discriminator.apply({"params": d}, batch["x"], train=True)
        fake_logits = discriminator.apply({"params": d}, fake(p["generator"], d_rng), train=True)
        return -jnp.mean(jax.nn.log_sigmoid(real)) - jnp.mean(jax.nn.log_sigmoid(-fake_logits))

    def g_loss(g):
        logits = discriminator.apply({"params": d_params}, fake(g, g_rng), train=True)
        return -jnp.mean(jax.nn.log_sigmoid(logits))

    new_d = _adam_step(config.optim.discriminator, p["discriminator"],
                       jax.grad(d_loss)(p["discriminator"]))
    new_g = _adam_step(config.optim.generator, p["generator"], jax.grad(g_loss)(p["generator"]))
    return new_d, new_g


def _assert_trees_close(got, want):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def _tiny(simultaneous: bool, **model):
    config = tiny_points_gan()
    config.schedule.simultaneous = simultaneous
    config.model.update(model)
    return config


@pytest.mark.parametrize("simultaneous", [True, False])
def test_one_step_equals_the_update_computed_by_hand(simultaneous):
    config = _tiny(simultaneous)
    info, method, batch, state = _setup(config)
    new_state, _ = jax.jit(make_train_step(method))(state, batch)
    step_rng = jax.random.fold_in(state.rng, 0)
    if simultaneous:  # One rng, G's z is D's fakes' z, G sees D's params before the step.
        shared = jax.random.split(jax.random.fold_in(step_rng, 0), 3)[0]
        want_d, want_g = _by_hand(config, info, state, batch, state.params["discriminator"],
                                  shared, shared)
    else:  # D first; G with fresh z against the updated D.
        d_rng = jax.random.split(jax.random.fold_in(step_rng, 0), 3)[0]
        want_d, _ = _by_hand(config, info, state, batch, state.params["discriminator"], d_rng,
                             d_rng)
        _, want_g = _by_hand(config, info, state, batch, want_d, d_rng,
                             jax.random.fold_in(step_rng, 1))
    _assert_trees_close(new_state.params["discriminator"], want_d)
    _assert_trees_close(new_state.params["generator"], want_g)


def test_simultaneous_needs_one_update_per_player():
    config = _tiny(True)
    config.schedule.d_steps = 2
    with pytest.raises(ValueError, match="schedule.d_steps=1"):
        methods.build(config, data.get_info(config.data))


def test_bgan_simultaneous_generator_sees_the_fakes_of_the_discriminator_step():
    config = configs.bgan.get_config("ring8_plain")
    config.model.update(dict(g_hidden=(8,), d_hidden=(8, 8)))
    config.data.batch_size = 16
    config.schedule.simultaneous = True
    _, method, batch, state = _setup(config)
    rng = jax.random.fold_in(jax.random.fold_in(state.rng, 0), 0)
    g_loss = method.player("generator").loss_fn
    d_fakes_rng = jax.random.split(rng)[0]
    z = jax.random.normal(d_fakes_rng, (16, config.model.latent_dim))
    fake = adversarial.build_generator(config, data.get_info(config.data)).apply(
        {"params": state.params["generator"], **state.collections["generator"]}, z, train=True,
        mutable=["batch_stats"])[1]
    _, (_, new_colls) = g_loss(state.params, state.collections, batch, rng)
    # The generator's batch statistics after its pass are those of D's fakes' z.
    _assert_trees_close(new_colls["generator"], fake)


def _kernels(params):
    return [w for path, w in jax.tree_util.tree_leaves_with_path(params)
            if "kernel" in jax.tree_util.keystr(path)]


@pytest.mark.parametrize("module,inputs", [
    (models.MLPGenerator(hidden=(256, 256)), jnp.zeros((4, 2))),
    (models.MLPDiscriminator(hidden=(256, 256), maxout=3), jnp.zeros((4, 2))),
    (models.SetMLPDiscriminator(hidden=(256, 256), maxout=3, set_layers=(1,)), jnp.zeros((4, 2))),
])
def test_normal_init_draws_every_weight_from_n_0_002(module, inputs):
    default = module.init(jax.random.PRNGKey(0), inputs, train=False)["params"]
    normal = module.clone(kernel_init=models.weight_init("normal_0.02")).init(
        jax.random.PRNGKey(0), inputs, train=False)["params"]
    unchanged = module.clone(kernel_init=models.weight_init("default")).init(
        jax.random.PRNGKey(0), inputs, train=False)["params"]
    jax.tree.map(np.testing.assert_array_equal, unchanged, default)
    big = [w for w in _kernels(normal) if w.size >= 10_000]
    assert big and len(_kernels(normal)) == len(_kernels(default))
    for w in big:
        assert abs(float(jnp.std(w)) - 0.02) < 0.001 and abs(float(jnp.mean(w))) < 0.001
    # Flax's default (LeCun normal, std 1/sqrt(fan_in)) on a 256-wide input is ~3x larger.
    assert all(float(jnp.std(w)) > 0.05 for w in _kernels(default) if w.shape[0] == 256)


def test_unknown_init_names_the_field():
    config = _tiny(False, init="xavier")
    with pytest.raises(ValueError, match="model.init"):
        methods.build(config, data.get_info(config.data))


def test_generator_batch_norm_constants():
    config = _tiny(False, g_hidden=(3,), bn_epsilon=1e-4, bn_momentum=0.95)
    generator = adversarial.build_generator(config, data.get_info(config.data))
    z = jax.random.normal(jax.random.PRNGKey(1), (8, config.model.latent_dim))
    variables = generator.init(jax.random.PRNGKey(0), z, train=False)
    _, stats = generator.apply(variables, z, train=True, mutable=["batch_stats"])
    pre = z @ variables["params"]["Dense_0"]["kernel"]
    # Running averages from (mean 0, var 1): 0.95 * old + 0.05 * batch statistic.
    np.testing.assert_allclose(stats["batch_stats"]["BatchNorm_0"]["mean"],
                               0.05 * pre.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stats["batch_stats"]["BatchNorm_0"]["var"],
                               0.95 + 0.05 * pre.var(0), rtol=1e-5)
    # Eval mode with var 0 divides by sqrt(epsilon).
    zero_var = jax.tree.map(jnp.zeros_like, variables["batch_stats"])
    out = generator.apply({**variables, "batch_stats": zero_var}, z, train=False)
    bn, dense = variables["params"]["BatchNorm_0"], variables["params"]["Dense_1"]
    hidden = nn.relu(pre / np.sqrt(1e-4) * bn["scale"] + bn["bias"])
    np.testing.assert_allclose(out, hidden @ dense["kernel"] + dense["bias"], rtol=1e-4)


def test_defaults_keep_the_previous_networks():
    config = configs.gan.get_config("grid25_plain")
    info = data.get_info(config.data)
    generator, discriminator = adversarial.build_networks(config, info)
    assert (generator.bn_epsilon, generator.bn_momentum) == (1e-5, 0.9)  # nn.BatchNorm's eps
    assert generator.kernel_init is nn.linear.default_kernel_init
    assert discriminator.kernel_init is nn.linear.default_kernel_init


@pytest.mark.parametrize("method", ["gan", "bgan"])
def test_ema_samples_with_the_batch_statistics_of_the_averaged_weights(method):
    config = (_tiny(False, ema_decay=0.99) if method == "gan"
              else configs.bgan.get_config("ring8_plain"))
    if method == "bgan":
        config.model.update(dict(g_hidden=(16, 16), d_hidden=(8, 8), ema_decay=0.99))
    info = data.get_info(config.data)
    method_ = methods.build(config, info)
    variables = method_.init(jax.random.PRNGKey(0), {"x": jnp.zeros((2, 2))})
    # Averaged weights unlike the live ones whose running averages the state holds.
    g = variables["generator"]
    g = {**g, "params": jax.tree.map(lambda w: 3.0 * w + 0.1, g["params"])}
    variables = {**variables, "generator": g}
    prepared = methods.sampling_variables(method_, variables)
    generator = adversarial.build_generator(config, info)
    z = jax.random.normal(jax.random.PRNGKey(adversarial.STANDING_STATS_KEY),
                          (adversarial.STANDING_STATS_SAMPLES, config.model.latent_dim))
    train_mode, _ = generator.apply(g, z, train=True, mutable=["batch_stats"])
    # Eval mode with the recomputed statistics reproduces the batch-statistics pass.
    eval_mode = generator.apply(prepared["generator"], z, train=False)
    np.testing.assert_allclose(eval_mode, train_mode, rtol=1e-3, atol=1e-4)
    stale = generator.apply(g, z, train=False)
    assert float(jnp.max(jnp.abs(stale - train_mode))) > 0.1
    jax.tree.map(np.testing.assert_array_equal, prepared["discriminator"],
                 variables["discriminator"])
    jax.tree.map(np.testing.assert_array_equal, prepared["generator"]["params"], g["params"])


def test_without_ema_sampling_keeps_the_running_averages():
    config = _tiny(False)
    assert methods.build(config, data.get_info(config.data)).prepare_sampling is None
    # ema_batch_stats="live": the EMA samples with the live generator's running averages.
    config = _tiny(False, ema_decay=0.99, ema_batch_stats="live")
    assert methods.build(config, data.get_info(config.data)).prepare_sampling is None
    config.model.ema_batch_stats = "own"
    with pytest.raises(ValueError, match="model.ema_batch_stats='own'.*standing, live"):
        methods.build(config, data.get_info(config.data))


@pytest.mark.parametrize("module", [configs.gan, configs.bgan])
def test_protocol_presets(module):
    for name in ("ring8", "grid25"):
        base, proto = module.get_config(f"{name}_plain"), module.get_config(f"{name}_protocol")
        assert base.optim.generator.b1 == 0.8 and not base.schedule.simultaneous
        assert (base.model.init, base.model.bn_epsilon, base.model.bn_momentum) == (
            "default", 1e-5, 0.9)
        assert proto.optim.generator.b1 == proto.optim.discriminator.b1 == 0.2
        assert proto.schedule.simultaneous and proto.model.init == "normal_0.02"
        assert (proto.model.bn_epsilon, proto.model.bn_momentum) == (1e-4, 0.95)
        differing = config_lib.config_differences(base.to_dict(), proto.to_dict())
        assert set(differing) <= {
            "optim.generator.b1", "optim.discriminator.b1", "schedule.simultaneous", "model.init",
            "model.bn_epsilon", "model.bn_momentum", "train.num_steps", "train.checkpoint_every",
            "train.sample_every", "eval.every"}
        methods.build(proto, data.get_info(proto.data))


@pytest.mark.parametrize("module", [configs.gan, configs.bgan])
def test_shipped_2d_presets_are_the_protocol_presets_annealed(module):
    """ring8 / grid25 = the `_protocol` preset + an EMA generator (0.99, standing statistics) +
    both learning rates held for the first half, then decayed linearly to 0 at the last step
    (one optimizer update per step: simultaneous updates); bgan's are M-BGAN with 2 mixes and
    the per-slot term."""
    for name in ("ring8", "grid25"):
        shipped, proto = module.get_config(name), module.get_config(f"{name}_protocol")
        n = shipped.train.num_steps
        assert (shipped.model.ema_decay, shipped.model.ema_batch_stats) == (0.99, "standing")
        assert shipped.schedule.simultaneous and shipped.train.steps_per_call == 50
        for player in ("generator", "discriminator"):
            cfg = shipped.optim[player]
            lr = optim.learning_rate(cfg, f"optim.{player}")
            assert cfg.learning_rate == proto.optim[player].learning_rate
            np.testing.assert_allclose(float(lr(n // 2)), cfg.learning_rate, rtol=1e-6)
            assert 0 < float(lr(n - 1)) < 1e-3 * cfg.learning_rate and float(lr(n)) == 0.0
        swept = {"model.ema_decay", "train.num_steps", "train.steps_per_call"} | {
            f"optim.{p}.{f}" for p in ("generator", "discriminator")
            for f in ("schedule", "decay_begin", "decay_steps")}
        if module is configs.bgan:
            assert (shipped.bgan.variant, shipped.bgan.mixes_per_step,
                    shipped.bgan.element_weight) == ("mbgan", 2, 1.0)
            swept |= {"bgan.variant", "bgan.mixes_per_step", "bgan.element_weight"}
        assert set(config_lib.config_differences(proto.to_dict(), shipped.to_dict())) == swept
        methods.build(shipped, data.get_info(shipped.data))


def test_configs_saved_before_the_options_read_the_old_behaviour():
    for module, preset in ((configs.gan, "grid25_plain"), (configs.bgan, "grid25_plain"),
                           (configs.ali, "grid25")):
        saved = module.get_config(preset).to_dict()
        for block, field in (("model", "init"), ("model", "bn_epsilon"),
                             ("model", "bn_momentum"), ("schedule", "simultaneous"),
                             ("model", "ema_batch_stats")):
            saved[block].pop(field, None)
        merged = config_lib.merge_over_defaults(saved)
        assert config_lib.config_differences(merged, module.get_config(preset).to_dict()) == []
