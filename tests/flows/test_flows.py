"""Normalizing flows: bijector log-dets against brute-force Jacobians, invertibility, the bpd
accounting, actnorm's data-dependent init, temperature sampling, the method end to end and
config errors. Tiny shapes (1x4x4x2 for Jacobians) so everything runs on a CPU in seconds."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import stats

import configs.flow
import configs.hybrid
import genmodels
from genmodels import data, flows, methods
from genmodels.flows import bijectors as bj
from genmodels.train import loop
from genmodels.workdir import read_metrics

SHAPE = (1, 4, 4, 2)  # Jacobians are [32, 32].


def _x(shape=SHAPE, seed=0):
    return jax.random.normal(jax.random.PRNGKey(seed), shape)


def _perturb(variables, scale=0.3, seed=1):
    """Moves every parameter off its init, so identity-initialised layers do something."""
    leaves, tree = jax.tree.flatten(variables)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    return jax.tree.unflatten(tree, [x + scale * jax.random.normal(k, x.shape)
                                     for x, k in zip(leaves, keys)])


def _init(module, x=None, scale=0.3):
    x = _x() if x is None else x
    return _perturb(module.init(jax.random.PRNGKey(0), x, method="forward"), scale)


def _flat_fn(module, variables, direction, shape):
    """x_flat [D] -> (y_flat [D], logdet scalar) of one example."""
    def fn(x_flat):
        y, logdet = module.apply(variables, x_flat.reshape(shape), method=direction)
        y = jnp.concatenate([jnp.ravel(p) for p in y]) if isinstance(y, tuple) else y.ravel()
        return y, logdet[0]
    return fn


def _assert_logdet_matches_jacobian(module, variables, x, direction="forward"):
    """In float64, so that the check is not limited by a float32 Jacobian's conditioning."""
    with jax.enable_x64(True):
        variables, x = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), (variables, x))
        fn = _flat_fn(module, variables, direction, x.shape)
        jac = jax.jacfwd(lambda v: fn(v)[0])(x.ravel())
        sign, brute = np.linalg.slogdet(np.asarray(jac))
        logdet = float(fn(x.ravel())[1])
    assert sign != 0
    np.testing.assert_allclose(logdet, brute, rtol=1e-6, atol=1e-6)


def _coupling(**kw):
    return bj.Coupling(**{**dict(hidden=4, num_blocks=1), **kw})


BIJECTORS = {
    "squeeze": bj.Squeeze(),
    "actnorm": bj.ActNorm(),
    "invconv1x1": bj.InvConv1x1(seed=3),
    "affine_checkerboard_tanh": _coupling(mask="checkerboard", scale_bound="tanh"),
    "affine_checkerboard_sigmoid_parity1": _coupling(mask="checkerboard", parity=1,
                                                     scale_bound="sigmoid"),
    "affine_channel_glow_net": _coupling(mask="channel", net="glow", scale_bound="sigmoid"),
    "affine_channel_parity1": bj.AffineCoupling(mask="channel", parity=1, hidden=4,
                                                num_blocks=1),
    "additive_channel": bj.AdditiveCoupling(mask="channel", hidden=4, num_blocks=1),
    "additive_checkerboard": bj.AdditiveCoupling(mask="checkerboard", hidden=4, num_blocks=1),
    "factor_out": bj.FactorOut(),
}


@pytest.mark.parametrize("name", list(BIJECTORS))
def test_bijector_logdet_is_log_abs_det_jacobian_and_inverse_inverts(name):
    module = BIJECTORS[name]
    x = _x()
    variables = _init(module, x)
    _assert_logdet_matches_jacobian(module, variables, x, "forward")
    y, logdet = module.apply(variables, x, method="forward")
    _assert_logdet_matches_jacobian(module, variables, y, "inverse")
    x_back, logdet_inv = module.apply(variables, y, method="inverse")
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-5, atol=1e-5)
    if name != "squeeze":  # Every learned bijector must actually change its input here.
        assert float(jnp.max(jnp.abs(y - x))) > 1e-3


def test_additive_coupling_has_zero_logdet_and_coupling_starts_at_identity():
    x = _x((3, 4, 4, 2))
    module = bj.AdditiveCoupling(mask="channel", hidden=4, num_blocks=1)
    y, logdet = module.apply(_init(module, x), x, method="forward")
    np.testing.assert_array_equal(logdet, 0.0)
    for mask in bj.MASKS:
        for bound in bj.SCALE_BOUNDS:
            affine = _coupling(mask=mask, scale_bound=bound)
            v = affine.init(jax.random.PRNGKey(0), x, method="forward")  # Not perturbed.
            y, logdet = affine.apply(v, x, method="forward")
            np.testing.assert_array_equal(y, x)
            np.testing.assert_array_equal(logdet, 0.0)


def test_squeeze_is_space_to_depth():
    x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
    y = bj.squeeze(x)
    assert y.shape == (2, 2, 2, 12)
    np.testing.assert_array_equal(y[0, 1, 0], jnp.ravel(x[0, 2:4, 0:2]))  # One 2x2 block.
    np.testing.assert_array_equal(bj.unsqueeze(y), x)


@pytest.mark.parametrize("pre", ["logit", "affine"])
def test_preprocessing_logdet_matches_jacobian_and_inverts(pre):
    y = jax.random.uniform(jax.random.PRNGKey(0), SHAPE)
    fwd = lambda v: flows.preprocess_forward(pre, v.reshape(SHAPE))  # noqa: E731
    jac = jax.jacfwd(lambda v: fwd(v)[0].ravel())(y.ravel())
    z, logdet = fwd(y.ravel())
    np.testing.assert_allclose(logdet[0], np.linalg.slogdet(np.asarray(jac, np.float64))[1],
                               rtol=1e-5)
    y_back, logdet_inv = flows.preprocess_inverse(pre, z)
    np.testing.assert_allclose(y_back, y, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-5)


def _model_config(kind, **kw):
    c = configs.flow.get_config("glow" if kind == "glow" else "realnvp")
    c.model.update({**dict(num_scales=2, steps=1, hidden=4, num_blocks=1), **kw})
    return c


@pytest.mark.parametrize("kind,kw", [("realnvp", {}), ("glow", {}),
                                     ("glow", dict(coupling="additive", mask="alternate", steps=2))])
def test_models_logdet_and_inverse(kind, kw):
    """The whole multi-scale flow (squeezes, splits, factor-out) against its brute-force
    Jacobian on 4x4x2 inputs, and inverse(forward(x)) == x on a batch."""
    config = _model_config(kind, **kw)
    flow = flows.make_flow(config.model, (4, 4, 2))
    x = _x((5, 4, 4, 2), seed=2)
    # A smaller perturbation: random deep flows are badly conditioned, and float32 inverses of
    # a map that contracts some directions by e^-5 per layer lose digits (trained ones do not).
    variables = _init(flow, x, scale=0.05)
    _assert_logdet_matches_jacobian(flow, variables, x[:1])
    eps, logdet = flow.apply(variables, x, method="forward")
    assert sum(e[0].size for e in eps) == 32 and len(eps) == 2
    x_back, logdet_inv = flow.apply(variables, eps, method="inverse")
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-5, atol=1e-4)
    assert float(jnp.max(jnp.abs(logdet))) > 1.0  # Not the identity.


def _feature_flow_block(**fields):
    """The hybrid's model.flow block (configs/hybrid.py holds its defaults) with `fields`."""
    cfg = configs.hybrid.get_config().model.flow
    cfg.update(fields)
    return cfg


def _check_shape_preserving_flow(flow, x):
    """f has x's shape, the log-det is the brute-force Jacobian's, and the inverse inverts;
    returns (variables, f, logdet)."""
    variables = _init(flow, x, scale=0.05)
    f, logdet = flow.apply(variables, x, method="forward")
    assert f.shape == x.shape and logdet.shape == x.shape[:1]
    _assert_logdet_matches_jacobian(flow, variables, x[:1])
    x_back, logdet_inv = flow.apply(variables, f, method="inverse")
    np.testing.assert_allclose(x_back, x, atol=1e-5)
    np.testing.assert_allclose(logdet_inv, -logdet, rtol=1e-5, atol=1e-4)
    return variables, f, logdet


def test_feature_flow_preserves_shape_logdet_and_inverts():
    cfg = _feature_flow_block(depth=2, hidden=4, coupling="affine", squeezes=1, num_scales=0)
    flow = flows.make_feature_flow(cfg, (4, 4, 2))
    x = _x((3, 4, 4, 2), seed=4)
    _check_shape_preserving_flow(flow, x)
    cfg.update(dict(squeezes=0, mask="checkerboard"))  # 1 channel: checkerboard only.
    flow = flows.make_feature_flow(cfg, (4, 4, 1))
    _assert_logdet_matches_jacobian(flow, _init(flow, x[:1, ..., :1]), x[:1, ..., :1])


def test_multiscale_feature_flow_is_the_multiscale_flow_packed_into_image_shape():
    """num_scales >= 1: the Glow plan with its levels packed back into [H, W, C]. Same log-det
    (the brute-force Jacobian), exact inverse, and a standard normal on f scores x exactly as
    the MultiScaleFlow with the same parameters does (packing only permutes coordinates)."""
    cfg = _feature_flow_block(depth=2, hidden=4, coupling="affine", squeezes=0, num_scales=2)
    flow = flows.make_feature_flow(cfg, (4, 4, 2))
    x = _x((3, 4, 4, 2), seed=5)
    variables, f, logdet = _check_shape_preserving_flow(flow, x)
    reference = flows.MultiScaleFlow(flow.apply(variables, method=lambda m: m.spec))
    eps, ref_logdet = reference.apply({"params": variables["params"]["flow"]}, x,
                                      method="forward")
    np.testing.assert_allclose(logdet, ref_logdet, rtol=1e-6)
    np.testing.assert_allclose(np.sort(np.asarray(f).reshape(3, -1), axis=1),
                               np.sort(np.concatenate([np.asarray(e).reshape(3, -1) for e in eps],
                                                      axis=1), axis=1), rtol=1e-6)
    assert float(jnp.max(jnp.abs(logdet))) > 1.0  # Not the identity.
    with pytest.raises(ValueError, match="model.flow.squeezes=1 with model.flow.num_scales=2"):
        flows.make_feature_flow(_feature_flow_block(squeezes=1, num_scales=2), (4, 4, 2))
    with pytest.raises(ValueError, match="model.flow.num_scales"):
        flows.make_feature_flow(_feature_flow_block(squeezes=0, num_scales=3), (4, 4, 2))


def test_actnorm_init_normalises_the_first_batch():
    x = 3.0 + 2.5 * _x((16, 4, 4, 3))
    module = bj.ActNorm()
    variables = module.init(jax.random.PRNGKey(0), x, method="forward")
    y, _ = module.apply(variables, x, method="forward")
    np.testing.assert_allclose(jnp.mean(y, (0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(jnp.std(y, (0, 1, 2)), 1.0, atol=1e-4)


def _data_batch(config, n=32):
    return jax.tree.map(jnp.asarray, next(data.train_batches(config.data, batch_size=n, seed=0)))


def _zero_actnorm(tree):
    """Sets every ActNorm (bias, log_scale) to 0: the identity."""
    if isinstance(tree, dict):
        if set(tree) == {"bias", "log_scale"}:
            return jax.tree.map(jnp.zeros_like, tree)
        return {k: _zero_actnorm(v) for k, v in tree.items()}
    return tree


@pytest.mark.parametrize("levels", [0, 256])
@pytest.mark.parametrize("kind,pre", [("realnvp", "logit"), ("glow", "affine")])
def test_identity_flow_scores_the_base_density(kind, pre, levels):
    """Couplings and priors at their zero init, actnorm at the identity, Glow's 1x1 convs at
    their random rotations (orthogonal, which N(0, I) ignores): bpd is that of N(0, I) on the
    pre-processed dequantised image, computed here in float64 with scipy, with digits
    dequantised on its own 17 levels (num_levels 0) or on all 256."""
    config = _model_config(kind, preprocess=pre, num_levels=levels)
    num_levels = levels or 17
    info = data.get_info(config.data)
    method = methods.build(config, info)
    batch = _data_batch(config)
    variables = _zero_actnorm(method.init(jax.random.PRNGKey(0), batch))
    rng = jax.random.PRNGKey(7)
    got = np.asarray(method.bpd(variables, batch["image"], rng))
    x = np.asarray(batch["image"], np.float64).reshape(32, -1)
    u = np.asarray(jax.random.uniform(rng, batch["image"].shape), np.float64).reshape(32, -1)
    y = (np.round(x * (num_levels - 1) / 255) + u) / num_levels
    d = y.shape[1]
    if pre == "logit":
        a = 0.05
        s = a + (1 - 2 * a) * y
        z, logdet = np.log(s / (1 - s)), np.sum(np.log((1 - 2 * a) / (s * (1 - s))), 1)
    else:
        z, logdet = 2 * y - 1, d * np.log(2)
    log_p = np.sum(stats.norm.logpdf(z), 1) + logdet
    np.testing.assert_allclose(got, (-log_p + d * np.log(num_levels)) / (d * np.log(2)),
                               rtol=2e-6)


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_level_dequantisation_round_trips_and_uniform_scores_log2_levels(levels):
    """On an L-level grid: dequantised values lie in their level's bin [k / L, (k + 1) / L),
    to_uint8_levels undoes dequantize, and the uniform density on [0, 1)^D scores log2 L bits/dim
    (8 for 256 levels; 4.09 for digits' 17), i.e. a uniform pmf over the L levels."""
    k = jax.random.randint(jax.random.PRNGKey(0), (5, 4, 4, 1), 0, levels)
    x = data.level_value(k, levels)
    assert bool(jnp.all(data.on_level_grid(x, levels)))
    y = flows.dequantize(jax.random.PRNGKey(1), x, levels)
    np.testing.assert_array_equal(jnp.floor(y * levels), k)
    assert float(jnp.max(y)) < 1.0
    np.testing.assert_array_equal(flows.to_uint8_levels(y, levels), x)
    np.testing.assert_allclose(flows.bits_per_dim(jnp.zeros(5), 16, levels), math.log2(levels),
                               rtol=1e-6)
    if levels < 256:  # A value between two levels is off the grid.
        off = x.at[0, 0, 0, 0].set(data.level_value(1, levels) - 1)
        np.testing.assert_array_equal(data.on_level_grid(off, levels),
                                      [False, True, True, True, True])


def test_flow_on_the_digits_levels_gives_inf_off_grid_and_fails_init_on_off_grid_data():
    config = _model_config("glow")
    info = data.get_info(config.data)
    assert info.num_levels == 17
    method = methods.build(config, info)
    batch = _data_batch(config, 4)
    variables = method.init(jax.random.PRNGKey(0), batch)
    x = batch["image"]
    assert np.all(np.isfinite(method.bpd(variables, x, jax.random.PRNGKey(1))))
    off = x.at[1, 0, 0, 0].set(1)  # Level 0 is 0, level 1 is 16: 1 has probability 0.
    bpd = np.asarray(method.bpd(variables, off, jax.random.PRNGKey(1)))
    assert np.isinf(bpd[1]) and np.all(np.isfinite(bpd[[0, 2, 3]]))
    with pytest.raises(ValueError, match="off the 17-level grid.*model.num_levels=256"):
        method.init(jax.random.PRNGKey(0), {**batch, "image": off})
    config.model.num_levels = 256  # All 256 values: off-grid data is fine.
    wide = methods.build(config, info)
    assert np.all(np.isfinite(wide.bpd(wide.init(jax.random.PRNGKey(0), batch), off,
                                       jax.random.PRNGKey(1))))


@pytest.mark.parametrize("pre", ["logit", "affine"])
def test_uniform_model_scores_exactly_8_bits(pre):
    """The density that is uniform on [0, 1)^D, written as the flow z = g(y) with the base
    density p_Z(z) = |det dg^-1/dz| (the pushforward of the uniform): bpd is exactly 8."""
    x = jax.random.randint(jax.random.PRNGKey(0), (6, 8, 8, 3), 0, 256).astype(jnp.uint8)
    y = flows.dequantize(jax.random.PRNGKey(1), x)
    z, logdet = flows.preprocess_forward(pre, y)
    log_pz = flows.preprocess_inverse(pre, z)[1]  # ln p_Z(z) of the uniform's pushforward.
    np.testing.assert_allclose(flows.bits_per_dim(log_pz + logdet, 192), 8.0, atol=1e-5)
    np.testing.assert_array_equal(flows.bits_per_dim(jnp.zeros(6), 192), 8.0)
    np.testing.assert_array_equal(flows.to_uint8_levels(y), x)  # floor(256 y) undoes it.


@pytest.mark.parametrize("kind", ["realnvp", "glow"])
def test_temperature_zero_samples_the_mode(kind):
    """T = 0: every latent at its mode (eps = 0: factored-out halves at their conditional prior
    means), independent of the key; T = 1 draws differ."""
    config = _model_config(kind, temperature=0.0)
    info = data.get_info(config.data)
    method = methods.build(config, info)
    variables = _perturb(method.init(jax.random.PRNGKey(0), _data_batch(config)), 0.1)
    a = method.sample(variables, jax.random.PRNGKey(1), 4)
    b = method.sample(variables, jax.random.PRNGKey(2), 4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, a[:1].repeat(4, 0))
    flow = flows.make_flow(config.model, info.shape)
    shapes = [e.shape for e in flow.apply(variables["flow"], jnp.zeros((1, 8, 8, 1)),
                                          method="forward")[0]]
    z, _ = flow.apply(variables["flow"], tuple(jnp.zeros(s) for s in shapes), method="inverse")
    y, _ = flows.preprocess_inverse(config.model.preprocess, z)
    np.testing.assert_array_equal(a[:1], flows.to_uint8_levels(y, info.num_levels))
    eps, _ = flow.apply(variables["flow"], z, method="forward")
    assert max(float(jnp.max(jnp.abs(e))) for e in eps) < 1e-4  # z is the latent mode.
    config.model.temperature = 1.0
    warm = methods.build(config, info)
    assert not np.array_equal(warm.sample(variables, jax.random.PRNGKey(1), 4),
                              warm.sample(variables, jax.random.PRNGKey(2), 4))


def test_method_init_uses_the_real_batch():
    """The first ActNorm of Real NVP normalises the logit of the dequantised init batch."""
    config = _model_config("realnvp")
    method = methods.build(config, data.get_info(config.data))
    batch = _data_batch(config, 64)
    params = method.init(jax.random.PRNGKey(0), batch)["flow"]["params"]
    assert set(params["layers_1"]) == {"bias", "log_scale"}  # The ActNorm after coupling 0.
    z, _ = flows.logit_forward(flows.dequantize(jax.random.PRNGKey(5), batch["image"], 17))
    assert float(jnp.abs(params["layers_1"]["log_scale"][0])) > 0.1  # Not the identity.
    np.testing.assert_allclose(params["layers_1"]["bias"][0], -jnp.mean(z), rtol=0.05)


def test_flow_trains_and_loads(tmp_path):
    config = _model_config("realnvp")
    config.data.batch_size = 16
    config.eval.batch_size = 64
    config.eval.num_examples = 64
    config.eval.every = 3
    config.train.tensorboard = False
    config.train.update(dict(num_steps=6, log_every=2, checkpoint_every=3, sample_every=3))
    workdir = str(tmp_path)
    state = loop.train_and_evaluate(config, workdir)
    assert int(state.step) == 6
    train = read_metrics(workdir, "train")
    assert [r["step"] for r in train] == [2, 4, 6]
    assert all(np.isfinite(r["loss/flow"]) and r["loss/flow"] == r["bpd"] for r in train)
    evals = read_metrics(workdir, "eval")
    assert [r["step"] for r in evals] == [3, 6]
    assert all(2.0 < r["bpd"] < 9.0 for r in evals)
    model = genmodels.load(workdir)
    x = np.asarray(_data_batch(config, 8)["image"])
    bpd = model.bpd(x)
    assert bpd.shape == (8,) and np.all(np.isfinite(bpd)) and np.all(bpd > 0)
    np.testing.assert_array_equal(bpd, model.bpd(x))  # Same seed, same dequantisation.
    samples = model.sample(5, seed=1)
    assert samples.shape == (5, 8, 8, 1) and samples.dtype == np.uint8
    assert np.all(np.isin(samples, data.level_value(np.arange(17), 17)))  # Digits' levels.


@pytest.mark.parametrize("field,value,match", [
    ("kind", "maf", "model.kind='maf'.*realnvp, glow"),
    ("mask", "stripes", "model.mask='stripes'.*checkerboard"),
    ("coupling", "spline", "model.coupling='spline'.*affine, additive"),
    ("scale_bound", "exp", "model.scale_bound='exp'"),
    ("net", "unet", "model.net='unet'"),
    ("preprocess", "tanh", "model.preprocess.*logit, affine"),
    ("logit_alpha", 0.7, "model.logit_alpha"),
    ("temperature", -1.0, "model.temperature"),
    ("num_levels", 1, "model.num_levels"),
    ("num_levels", 300, "model.num_levels"),
    ("steps", 0, "model.steps"),
    ("num_scales", 4, "not divisible by 2\\^4.*model.num_scales"),
])
def test_bad_config_fields_raise_naming_the_field(field, value, match):
    config = configs.flow.get_config("glow")
    config.model[field] = value
    with pytest.raises(ValueError, match=match):
        methods.build(config, data.get_info(config.data))


def test_bad_feature_flow_and_preset_errors():
    cfg = _feature_flow_block(depth=2, hidden=4, coupling="affine", squeezes=2, num_scales=0)
    with pytest.raises(ValueError, match="model.flow.squeezes"):
        flows.make_feature_flow(cfg, (6, 6, 3))
    with pytest.raises(ValueError, match=r"divisible by 2\^2.*model.flow.num_scales"):
        flows.make_feature_flow(_feature_flow_block(squeezes=0, num_scales=2), (6, 6, 3))
    cfg.update(dict(squeezes=0, mask="channel"))
    with pytest.raises(ValueError, match="model.flow.mask='channel'"):
        flows.make_feature_flow(cfg, (4, 4, 1))
    cfg.depth = 0
    with pytest.raises(ValueError, match="model.flow.depth"):
        flows.make_feature_flow(cfg, (4, 4, 1))
    with pytest.raises(ValueError, match="valid presets.*glow_cifar10"):
        configs.flow.get_config("nope")
    config = configs.flow.get_config()
    config.model.mask = "channel"  # Real NVP's first stage on 1-channel digits.
    with pytest.raises(ValueError, match="model.mask='channel'"):
        methods.build(config, data.get_info(config.data))


def test_presets_have_the_published_sizes():
    glow = configs.flow.get_config("glow_cifar10").model
    assert (glow.kind, glow.num_scales, glow.steps, glow.hidden) == ("glow", 3, 32, 512)
    nvp = configs.flow.get_config("cifar10")
    assert (nvp.model.kind, nvp.model.num_blocks, nvp.model.hidden) == ("realnvp", 8, 64)
    assert nvp.data.name == "cifar10" and nvp.data.batch_size == 64
    assert configs.flow.get_config("realnvp").to_dict() == configs.flow.get_config().to_dict()
    assert math.isclose(configs.flow.get_config().model.logit_alpha, 0.05)
    # The papers' Adam 1e-3 at paper scale and for Glow; the small Real NVP preset uses 5e-4.
    for preset in ("cifar10", "glow_cifar10", "glow"):
        assert configs.flow.get_config(preset).optim.learning_rate == 1e-3, preset
    assert configs.flow.get_config("realnvp").optim.learning_rate == 5e-4
