"""The ADE hybrid: the feature-space ELBO term by term, the bpd, which player moves what, and
where the adversarial gradient goes."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import configs.hybrid
import genmodels
from genmodels import data, distributions as dist, methods
from genmodels.data import dequantize
from genmodels.methods.hybrid import HybridVAE
from genmodels.train import loop
from genmodels.train.state import init_train_state, inference_variables
from genmodels.train.step import make_train_step


def tiny_hybrid(**model):
    c = configs.hybrid.get_config()
    c.data.image_size = 8
    c.data.batch_size = 8
    c.model.update(dict(latent_dim=4, encoder_features=(8,), decoder_features=(8,), dense=16,
                        d_features=8, **model))
    c.model.flow.update(dict(depth=1, hidden=8))
    c.train.update(dict(num_steps=4, log_every=2, checkpoint_every=2, sample_every=4,
                        tensorboard=False))
    # bpd only: tests/evaluation/test_evaluate_cli.py evaluates the preset's sample metrics.
    c.eval.update(dict(every=4, batch_size=16, num_examples=32, iwae_k=1, iwae_chunk=1,
                       metrics=("bpd",)))
    return c


def _setup(config):
    info = data.get_info(config.data)
    method = methods.build(config, info)
    batch = next(data.train_batches(config.data, batch_size=8, seed=0))
    state = init_train_state(method, jax.random.PRNGKey(0), batch)
    return info, method, batch, state


def _module(method):
    """The HybridVAE inside the method's closures (found through its init function)."""
    return next(c.cell_contents for c in method.init.__closure__
                if isinstance(c.cell_contents, HybridVAE))


def test_elbo_is_the_feature_space_bound_term_by_term():
    config = tiny_hybrid()
    info, method, batch, state = _setup(config)
    variables = inference_variables(state)
    rng = jax.random.PRNGKey(3)
    terms = method.eval_fn(variables, batch, rng)

    # Independent computation with the same randomness (eval_fn splits rng into z, dequant).
    vae, g = _module(method), variables["generator"]
    z_rng, deq_rng = jax.random.split(rng)
    x = 2.0 * dequantize(deq_rng, batch["image"]) - 1.0
    f, log_det = vae.apply(g, x, method=HybridVAE.features)
    mean, log_scale = vae.apply(g, x, method=HybridVAE.encode)
    z = mean + jnp.exp(log_scale) * jax.random.normal(z_rng, mean.shape)
    mu, log_sigma = vae.apply(g, z, method=HybridVAE.decode)
    sigma = np.exp(np.broadcast_to(np.asarray(log_sigma, np.float64), f.shape))
    f64, mu64 = np.asarray(f, np.float64), np.asarray(mu, np.float64)
    log_lik = np.sum(-0.5 * ((f64 - mu64) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi),
                     axis=(1, 2, 3))
    m64, s64 = np.asarray(mean, np.float64), np.exp(np.asarray(log_scale, np.float64))
    kl = np.sum(0.5 * (s64**2 + m64**2 - 1) - np.log(s64), axis=-1)
    elbo = log_lik + np.asarray(log_det, np.float64) - kl
    assert np.all(np.abs(np.asarray(log_det)) > 1e-3)  # The flow is not a no-op here.
    np.testing.assert_allclose(terms["kl"], kl, rtol=1e-4)
    np.testing.assert_allclose(terms["log_det"], log_det, rtol=1e-5)
    np.testing.assert_allclose(terms["elbo"], elbo, rtol=1e-4)
    # bpd on the 256-level convention: y = (x' + 1) / 2 adds D ln 2, 8-bit data adds D ln 256.
    d = math.prod(info.shape)
    bpd = (-elbo - d * math.log(2) + d * math.log(256)) / (d * math.log(2))
    np.testing.assert_allclose(terms["bpd_elbo"], bpd, rtol=1e-4)
    # The reported bpd is the IWAE bound; at k = 1 its one log-weight replaces the analytic KL
    # by ln N(z; 0, I) - ln q(z|x) at the same z.
    z64 = np.asarray(z, np.float64)
    log_w = (log_lik + np.asarray(log_det, np.float64)
             + np.sum(-0.5 * z64**2 - 0.5 * np.log(2 * np.pi), -1)
             - np.sum(-0.5 * ((z64 - m64) / s64) ** 2 - np.log(s64) - 0.5 * np.log(2 * np.pi), -1))
    iwae_bpd = (-log_w - d * math.log(2) + d * math.log(256)) / (d * math.log(2))
    np.testing.assert_allclose(terms["bpd"], iwae_bpd, rtol=1e-4)
    np.testing.assert_allclose(method.bpd(variables, batch["image"], rng), iwae_bpd, rtol=1e-4)


def test_iwae_bound_is_above_the_elbo_and_grows_with_k():
    """Means over 8 draws of the batch-mean bound: the analytic-KL ELBO < IWAE-4 < IWAE-16."""
    bounds, elbos = {}, []
    for k in (4, 16):
        config = tiny_hybrid()
        config.eval.update(dict(iwae_k=k, iwae_chunk=4))
        _, method, batch, state = _setup(config)
        variables = inference_variables(state)
        draws = [method.eval_fn(variables, batch, jax.random.PRNGKey(s)) for s in range(8)]
        bounds[k] = np.mean([np.mean(t["iwae"]) for t in draws])
        elbos += [np.mean(t["elbo"]) for t in draws]
        assert all(np.all(t["iwae_k"] == k) for t in draws)
    assert np.mean(elbos) < bounds[4] < bounds[16], (np.mean(elbos), bounds)


def test_without_flow_and_fixed_sigma_bpd_matches_a_pixel_gaussian_vae():
    """depth 0 (the no-flow ablation): the bound is a plain Gaussian VAE's, log-det 0."""
    config = tiny_hybrid(sigma="fixed", sigma_init=0.2)
    config.model.flow.depth = 0
    _, method, batch, state = _setup(config)
    variables = inference_variables(state)
    rng = jax.random.PRNGKey(1)
    terms = method.eval_fn(variables, batch, rng)
    np.testing.assert_array_equal(terms["log_det"], 0.0)
    vae, g = _module(method), variables["generator"]
    z_rng, deq_rng = jax.random.split(rng)
    x = 2.0 * dequantize(deq_rng, batch["image"]) - 1.0
    mean, log_scale = vae.apply(g, x, method=HybridVAE.encode)
    z = dist.diag_gaussian_sample(z_rng, mean, log_scale)
    mu, _ = vae.apply(g, z, method=HybridVAE.decode)
    log_lik = jnp.sum(dist.diag_gaussian_log_prob(x, mu, math.log(0.2)), axis=(1, 2, 3))
    kl = jnp.sum(dist.kl_diag_gaussian_standard(mean, log_scale), axis=-1)
    np.testing.assert_allclose(terms["elbo"], log_lik - kl, rtol=1e-5)


def _only(method, player):
    return dataclasses.replace(method, schedule=((player, 1),))


def _changed(before, after):
    return {k: not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before[k]),
                                                           jax.tree.leaves(after[k])))
            for k in before}


@pytest.mark.parametrize("player", ["generator", "discriminator"])
def test_each_player_step_leaves_the_other_unchanged(player):
    _, method, batch, state = _setup(tiny_hybrid())
    step = jax.jit(make_train_step(_only(method, player)))
    new_state, _ = step(state, batch)
    changed = _changed(state.params, new_state.params)
    assert changed == {"generator": player == "generator",
                       "discriminator": player == "discriminator"}


def test_adversarial_gradient_reaches_decoder_and_flow_not_encoder():
    config = tiny_hybrid()
    _, method, batch, state = _setup(config)
    config0 = tiny_hybrid()
    config0.losses.adversarial_weight = 0.0
    info = data.get_info(config0.data)
    likelihood_only = methods.build(config0, info)
    assert [p.name for p in likelihood_only.players] == ["generator"]

    def loss(method_, g_params):
        player = method_.player("generator")
        params = {**state.params, "generator": g_params}
        return player.loss_fn(params, state.collections, batch, jax.random.PRNGKey(5))[0]

    # Same randomness, so L_C cancels: the difference is lambda * L_Q.
    grads = jax.grad(lambda g: loss(method, g) - loss(likelihood_only, g))(
        state.params["generator"])
    norms = {k: float(jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(v))))
             for k, v in grads.items()}
    assert norms["decoder"] > 0 and norms["flow"] > 0
    assert norms["encoder"] == 0.0


def _generator_loss(config, g_params=None, rng=5):
    """(loss, metrics) of the generator player at the shared init state of tiny_hybrid."""
    _, method, batch, state = _setup(config)
    params = {**state.params, "generator": g_params or state.params["generator"]}
    loss, (metrics, _) = method.player("generator").loss_fn(
        params, state.collections, batch, jax.random.PRNGKey(rng))
    return loss, metrics


def test_lambda_is_per_sub_pixel_unless_saved_per_image():
    """adversarial_scale="per_dim" weighs L_Q by lambda * D against L_C (nats per image), i.e.
    L_C / D + lambda L_Q: the same loss as "per_image" at lambda * D."""
    d = 8 * 8 * 3
    per_dim = tiny_hybrid()
    per_dim.losses.adversarial_weight = 100.0  # Large, so L_Q shows above L_C's float32 rounding.
    per_image = tiny_hybrid()
    per_image.losses.update(dict(adversarial_weight=100.0 * d, adversarial_scale="per_image"))
    likelihood_only = tiny_hybrid()
    likelihood_only.losses.adversarial_weight = 0.0
    loss_dim, metrics = _generator_loss(per_dim)
    loss_image, _ = _generator_loss(per_image)
    loss_lik, _ = _generator_loss(likelihood_only)
    np.testing.assert_allclose(loss_dim, loss_image, rtol=1e-6)
    np.testing.assert_allclose(loss_dim - loss_lik, 100.0 * d * metrics["adversarial"], rtol=1e-3)
    per_image.losses.adversarial_scale = "per_pixel"
    with pytest.raises(ValueError, match="losses.adversarial_scale='per_pixel'; valid: "
                                         "per_dim, per_image"):
        methods.build(per_image, data.get_info(per_image.data))


def test_samples_that_overflow_the_flow_inverse_leave_the_gradient_finite():
    """A decoder mean whose inverse image overflows (here the decoder output bias at 1e3)
    makes every sample an overflow: the generator's gradient stays finite, L_Q contributes none
    of it, and fake_overflow reports 1. In range, fake_overflow is 0."""
    config = tiny_hybrid()
    _, method, _, state = _setup(config)
    _, metrics = _generator_loss(config)
    assert float(metrics["fake_overflow"]) == 0.0
    g = jax.tree.map(lambda x: x, state.params["generator"])
    g["decoder"]["out"]["bias"] = jnp.full_like(g["decoder"]["out"]["bias"], 1e3)
    likelihood_only = tiny_hybrid()
    likelihood_only.losses.adversarial_weight = 0.0

    def grads(c):
        return jax.grad(lambda p: _generator_loss(c, p)[0])(g)

    _, metrics = _generator_loss(config, g)
    assert float(metrics["fake_overflow"]) == 1.0 and np.isfinite(float(metrics["fake_abs_max"]))
    full, lik = grads(config), grads(likelihood_only)
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(lik)):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_trains_and_loads_with_ablations(tmp_path):
    for name, update in [("full", {}), ("no_flow", {"model.flow.depth": 0}),
                         ("no_adv", {"losses.adversarial_weight": 0.0})]:
        config = tiny_hybrid()
        for field, value in update.items():
            section, *rest = field.split(".")
            target = config[section]
            for part in rest[:-1]:
                target = target[part]
            target[rest[-1]] = value
        state = loop.train_and_evaluate(config, str(tmp_path / name))
        assert int(state.step) == 4
        model = genmodels.load(str(tmp_path / name))
        x = next(data.eval_batches(config.data, "test", batch_size=4))["image"]
        bits = model.bpd(x)
        assert bits.shape == (4,) and np.all(np.isfinite(bits)) and np.all(bits > 0)
        samples = model.sample(3)
        assert samples.shape == (3, 8, 8, 3) and samples.dtype == np.uint8
        assert model.reconstruct(x).shape == x.shape


@pytest.mark.parametrize("field,value,message", [
    ("sigma", "learned", "model.sigma='learned'; valid: fixed, per_channel, per_pixel"),
    ("discriminator", "resnet", "model.discriminator='resnet'; valid: dcgan, sngan"),
    ("sigma_init", 0.0, "model.sigma_init=0.0 must be > 0"),
])
def test_config_errors_name_the_field(field, value, message):
    config = tiny_hybrid(**{field: value})
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        methods.build(config, data.get_info(config.data))


def test_sngan_discriminator_needs_32px():
    config = tiny_hybrid(discriminator="sngan")
    with pytest.raises(ValueError, match="32"):
        methods.build(config, data.get_info(config.data))
