"""bgan.point_weight: a per-sample discriminator beside the set one (docs/bgan.md)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmodels import data, methods
from genmodels.methods import bgan
from genmodels.methods.adversarial import apply_module
from genmodels.models import SetMLPDiscriminator
from genmodels.train import loop
from genmodels.workdir import read_metrics
from tests.methods.test_bgan import initial_state, tiny_bgan

WEIGHT = 0.5


def _config(point_weight, variant="mbgan", **bgan_fields):
    c = tiny_bgan()
    c.bgan.update(variant=variant, mixes_per_step=2, point_weight=point_weight, **bgan_fields)
    return c


@pytest.fixture(scope="module")
def point_state():
    """(config, method, train state, batch) of the tiny ring8 M-BGAN with the point D."""
    return initial_state(_config(WEIGHT))


def _without_point(params):
    """The same params with the set discriminator alone, as point_weight=0 lays them out."""
    return {**params, "discriminator": params["discriminator"]["set_discriminator"]}


def _point_scores(config, params, x):
    d = bgan.build_discriminator(config, data.get_info(config.data))
    return jax.jit(functools.partial(d.apply, train=True))(
        {"params": params["discriminator"]}, x)[1]


def test_point_scores_depend_on_their_own_sample_only(point_state):
    """q_i is a per-sample score: unchanged when the rest of the batch changes; the set scores
    are not (they see the batch), so the two networks are really apart."""
    config, _, state, batch = point_state
    d = bgan.build_discriminator(config, data.get_info(config.data))
    apply = jax.jit(functools.partial(d.apply, train=True))
    x = batch["x"]
    other = x.at[1:].set(x[1:][::-1] * 2.0 + 0.3)
    (s, q), (s2, q2) = (apply({"params": state.params["discriminator"]}, v) for v in (x, other))
    np.testing.assert_allclose(q2[0], q[0], rtol=1e-5)
    singles = jax.vmap(lambda xi: apply({"params": state.params["discriminator"]},
                                        xi[None])[1][0])(x)
    np.testing.assert_allclose(singles, q, rtol=1e-4, atol=1e-6)
    assert abs(float(s2[0] - s[0])) > 1e-4


@pytest.mark.parametrize("variant", ["bgan", "mbgan"])
def test_point_weight_adds_the_point_gan_losses(point_state, variant):
    """On all-real mixes L_D(mu) = L_D(0) + mu * mean_i BCE(q_i(real); 1), and
    L_G(mu) = L_G(0) + mu * mean_i -ln sigmoid(q_i(G(z))), L(0) on the set D's own weights."""
    _, _, state, batch = point_state
    with_point, plain = _config(WEIGHT, variant, fixed_ratio=1.0), _config(0.0, variant,
                                                                          fixed_ratio=1.0)
    info = data.get_info(plain.data)
    rng = jax.random.key(3)
    losses = {}
    for name, c, params in (("point", with_point, state.params),
                            ("plain", plain, _without_point(state.params))):
        method = methods.build(c, info)
        losses[name] = [jax.jit(method.player(p).loss_fn)(params, state.collections, batch, rng)
                        for p in ("discriminator", "generator")]
    (d1, (m1, _)), (g1, _) = losses["point"]
    (d0, _), (g0, _) = losses["plain"]
    q_real = _point_scores(with_point, state.params, batch["x"])
    point_bce = float(jnp.mean(jax.nn.softplus(-q_real)))
    np.testing.assert_allclose(m1["bgan/point_bce"], point_bce, rtol=1e-5)
    np.testing.assert_allclose(d1, d0 + WEIGHT * point_bce, rtol=1e-5)
    # The generator's fakes, drawn as generator_loss draws them (alternating updates: z ~ rng).
    z = jax.random.normal(rng, (batch["x"].shape[0], with_point.model.latent_dim))
    fake, _ = apply_module(bgan.build_generator(with_point, info), state.params["generator"],
                           state.collections["generator"], z, train=True)
    q_fake = _point_scores(with_point, state.params, fake)
    np.testing.assert_allclose(g1, g0 + WEIGHT * jnp.mean(jax.nn.softplus(-q_fake)), rtol=1e-5)


def test_point_weight_zero_keeps_the_set_discriminator_alone():
    """point_weight=0 builds the paper's discriminator, so existing runs keep their params."""
    config = _config(0.0)
    d = bgan.build_discriminator(config, data.get_info(config.data))
    assert isinstance(d, SetMLPDiscriminator)


def test_a_negative_point_weight_names_the_field():
    config = _config(-1.0)
    with pytest.raises(ValueError, match="bgan.point_weight"):
        methods.build(config, data.get_info(config.data))


def test_trains_images_through_the_loop(tmp_path):
    """The conv set discriminator gets its per-sample twin too; both train and are saved."""
    config = tiny_bgan("default")
    config.bgan.update(variant="mbgan", point_weight=1.0)
    state = loop.train_and_evaluate(config, str(tmp_path))
    assert int(state.step) == 3
    assert set(state.params["discriminator"]) == {"set_discriminator", "point_discriminator"}
    records = read_metrics(str(tmp_path), "train")
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(0.0 < r["bgan/point_bce"] < 5.0 for r in records)
