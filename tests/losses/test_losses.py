"""The GAN loss zoo and penalties against hand computations and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmodels import losses
from genmodels.losses import penalties

REAL = np.array([0.0, 2.0])
FAKE = np.array([1.0, -1.0])


def _log_sigmoid(x):
    return -np.log1p(np.exp(-x))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (value, d value / d real, d value / d fake), computed by hand for REAL and FAKE.
DISCRIMINATOR = {
    "non_saturating": (-np.mean(_log_sigmoid(REAL)) - np.mean(_log_sigmoid(-FAKE)),
                       -(1 - _sigmoid(REAL)) / 2, _sigmoid(FAKE) / 2),
    "hinge": (0.5 + 1.0, np.array([-0.5, 0.0]), np.array([0.5, 0.0])),
    "wasserstein": (-1.0, np.array([-0.5, -0.5]), np.array([0.5, 0.5])),
    "least_squares": (1.0, np.array([-0.5, 0.5]), np.array([0.5, -0.5])),
}
GENERATOR = {
    "non_saturating": (-np.mean(_log_sigmoid(FAKE)), -(1 - _sigmoid(FAKE)) / 2),
    "minimax": (np.mean(_log_sigmoid(-FAKE)), -_sigmoid(FAKE) / 2),
    "log_ratio": (-np.mean(np.log(_sigmoid(FAKE) / (1 - _sigmoid(FAKE)))), np.full(2, -0.5)),
    "hinge": (0.0, np.full(2, -0.5)),
    "least_squares": (1.0, np.array([0.0, -1.0])),
}


@pytest.mark.parametrize("name", sorted(DISCRIMINATOR))
def test_discriminator_loss_value_and_gradient(name):
    fn = losses.get("discriminator", name)
    value, grads = jax.value_and_grad(fn, argnums=(0, 1))(jnp.asarray(REAL), jnp.asarray(FAKE))
    expected, d_real, d_fake = DISCRIMINATOR[name]
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(grads[0], d_real, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grads[1], d_fake, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(GENERATOR))
def test_generator_loss_value_and_gradient(name):
    fn = losses.get("generator", name)
    value, grad = jax.value_and_grad(fn)(jnp.asarray(FAKE))
    expected, d_fake = GENERATOR[name]
    np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad, d_fake, rtol=1e-6, atol=1e-7)


def test_logit_losses_are_stable_at_extreme_logits():
    big = jnp.array([-1e4, 1e4])
    for kind in ("discriminator", "generator"):
        for name in losses.names(kind):
            fn = losses.get(kind, name)
            args = (big, big) if kind == "discriminator" else (big,)
            value, grads = jax.value_and_grad(fn, argnums=tuple(range(len(args))))(*args)
            assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads), name


def test_minimax_is_the_same_discriminator_as_non_saturating():
    a = losses.get("discriminator", "minimax")(REAL, FAKE)
    np.testing.assert_allclose(a, losses.get("discriminator", "non_saturating")(REAL, FAKE))


def test_loss_by_import_path_and_unknown_name():
    fn = losses.get("generator", "genmodels.losses.gan:log_ratio_generator")
    assert fn is losses.get("generator", "log_ratio")
    with pytest.raises(ValueError, match="valid names: dragan, none, r1, r2, wgan_gp"):
        losses.get("penalty", "gp", "losses.penalty")
    with pytest.raises(ValueError, match="Cannot import"):
        losses.get("generator", "genmodels.losses.gan:nope")


# A smooth, nonlinear "discriminator" on [B, 3] inputs whose examples do not interact.
W = np.array([0.5, -1.0, 2.0])


def _d_fn(x):
    return jnp.tanh(x @ W) + 0.3 * jnp.sum(x ** 2, axis=-1)


def _fd_grad_norms(x, h=1e-4):
    """Central finite differences of _d_fn per example, in float64 numpy."""
    def d(v):
        return np.tanh(v @ W) + 0.3 * np.sum(v ** 2, axis=-1)

    grads = np.zeros_like(x)
    for j in range(x.shape[1]):
        e = np.zeros(x.shape[1])
        e[j] = h
        grads[:, j] = (d(x + e) - d(x - e)) / (2 * h)
    return np.linalg.norm(grads, axis=-1)


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 3)), rng.normal(size=(5, 3))


def test_wgan_gp_matches_finite_differences(batch):
    real, fake = batch
    rng = jax.random.PRNGKey(3)
    value = penalties.wgan_gp(_d_fn, jnp.asarray(real, jnp.float32), jnp.asarray(fake, jnp.float32),
                              rng)
    eps = np.asarray(penalties._batch_uniform(rng, jnp.asarray(real)), np.float64)
    x_hat = eps * real + (1 - eps) * fake
    np.testing.assert_allclose(value, np.mean((_fd_grad_norms(x_hat) - 1) ** 2), rtol=1e-4)


def test_dragan_matches_finite_differences(batch):
    real, fake = batch
    rng = jax.random.PRNGKey(4)
    value = penalties.dragan(_d_fn, jnp.asarray(real, jnp.float32), jnp.asarray(fake, jnp.float32),
                             rng)
    delta = 0.5 * np.std(real) * np.asarray(jax.random.uniform(rng, real.shape), np.float64)
    np.testing.assert_allclose(value, np.mean((_fd_grad_norms(real + delta) - 1) ** 2), rtol=1e-4)


def test_r1_r2_match_finite_differences_and_closed_form(batch):
    real, fake = batch
    r, f = jnp.asarray(real, jnp.float32), jnp.asarray(fake, jnp.float32)
    rng = jax.random.PRNGKey(0)
    np.testing.assert_allclose(penalties.r1(_d_fn, r, f, rng),
                               0.5 * np.mean(_fd_grad_norms(real) ** 2), rtol=1e-4)
    np.testing.assert_allclose(penalties.r2(_d_fn, r, f, rng),
                               0.5 * np.mean(_fd_grad_norms(fake) ** 2), rtol=1e-4)
    # A linear critic l(x) = w.x has gradient w everywhere: R1 = |w|^2 / 2, WGAN-GP = (|w| - 1)^2.
    def linear(x):
        return x @ W

    np.testing.assert_allclose(penalties.r1(linear, r, f, rng), 0.5 * W @ W, rtol=1e-6)
    np.testing.assert_allclose(penalties.wgan_gp(linear, r, f, rng),
                               (np.linalg.norm(W) - 1) ** 2, rtol=1e-5)
    assert penalties.no_penalty(linear, r, f, rng) == 0


def test_penalty_is_differentiable_in_the_discriminator_params(batch):
    real, fake = batch

    def loss(w):
        return penalties.wgan_gp(lambda x: jnp.tanh(x @ w), jnp.asarray(real, jnp.float32),
                                 jnp.asarray(fake, jnp.float32), jax.random.PRNGKey(0))

    grad = jax.grad(loss)(jnp.asarray(W, jnp.float32))
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
