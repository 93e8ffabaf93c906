"""Log-densities and samplers against closed forms, normalisation and histograms."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmodels.distributions import (
    LOG_SCALE_MIN,
    bernoulli_log_prob,
    bernoulli_sample,
    diag_gaussian_log_prob,
    diag_gaussian_sample,
    discretized_logistic_log_prob,
    discretized_logistic_mixture_log_prob,
    discretized_logistic_mixture_sample,
    discretized_logistic_sample,
    kl_diag_gaussian_standard,
)

VALUES = jnp.arange(256, dtype=jnp.uint8)


def _probs_over_values(log_prob_fn, *params, mixture=False):
    """[256, ...]: probability of every 8-bit value, parameters broadcast over the trailing axes
    (except the mixture axis, when `mixture`)."""
    x = VALUES.reshape((256,) + (1,) * (jnp.ndim(params[0]) - mixture))
    return jnp.exp(log_prob_fn(x, *params))


def _reference_logistic_probs(mean, log_scale):
    """float64 numpy reference: differences of the logistic CDF at the bin edges."""
    s = np.exp(max(log_scale, LOG_SCALE_MIN))
    edges = np.concatenate([[-np.inf], (np.arange(255) + 0.5) / 127.5 - 1.0, [np.inf]])
    with np.errstate(over="ignore"):
        cdf = 1.0 / (1.0 + np.exp(-(edges - mean) / s))
    return np.diff(cdf)


@pytest.mark.parametrize("mean", [-30.0, -1.0, -0.37, 0.0, 0.5, 0.99, 1.0, 1.3, 30.0])
@pytest.mark.parametrize("log_scale", [-20.0, -7.0, -4.0, -1.0, 0.0, 2.0, 8.0])
def test_discretized_logistic_normalised(mean, log_scale):
    p = _probs_over_values(discretized_logistic_log_prob, jnp.float32(mean),
                           jnp.float32(log_scale))
    assert abs(float(p.sum()) - 1.0) < 1e-4


def test_discretized_logistic_random_params_and_reference():
    means = jax.random.uniform(jax.random.key(0), (64,), minval=-1.5, maxval=1.5)
    log_scales = jax.random.uniform(jax.random.key(1), (64,), minval=-8.0, maxval=3.0)
    p = _probs_over_values(discretized_logistic_log_prob, means, log_scales)
    np.testing.assert_allclose(p.sum(0), 1.0, atol=1e-4)
    ref = np.stack([_reference_logistic_probs(float(m), float(s))
                    for m, s in zip(means, log_scales)], axis=1)
    np.testing.assert_allclose(p, ref, atol=2e-5)


def test_discretized_logistic_far_tail_is_finite():
    # Values many scales away from the mean: the bin mass underflows a naive difference of CDFs.
    lp = discretized_logistic_log_prob(VALUES, jnp.float32(-0.9), jnp.float32(-7.0))
    assert bool(jnp.all(jnp.isfinite(lp)))
    grads = jax.grad(lambda m, s: discretized_logistic_log_prob(VALUES, m, s).sum(), (0, 1))(
        jnp.float32(-0.9), jnp.float32(-6.0))
    assert all(bool(jnp.isfinite(g)) for g in grads)


def test_discretized_logistic_mode_at_mean():
    # Small scale: the bin at the mean is the most likely one, edge values included.
    for value in (0, 1, 77, 128, 254, 255):
        lp = discretized_logistic_log_prob(VALUES, jnp.float32(value / 127.5 - 1.0), -7.0)
        assert int(jnp.argmax(lp)) == value
        assert float(jnp.exp(lp[value])) > 0.95
    # Larger scales: still the mode away from the edges (the edge bins collect the tails).
    for value, log_scale in ((77, -3.0), (128, -1.0)):
        lp = discretized_logistic_log_prob(VALUES, jnp.float32(value / 127.5 - 1.0), log_scale)
        assert int(jnp.argmax(lp[1:255])) + 1 == value


def test_log_scale_is_clamped():
    a = discretized_logistic_log_prob(VALUES, 0.1, -7.0)
    b = discretized_logistic_log_prob(VALUES, 0.1, -50.0)
    np.testing.assert_array_equal(a, b)


def test_mixture_normalised_and_matches_single_component():
    k = 5
    shape = (7, k)
    logits = 3.0 * jax.random.normal(jax.random.key(0), shape)
    means = jax.random.uniform(jax.random.key(1), shape, minval=-1.2, maxval=1.2)
    log_scales = jax.random.uniform(jax.random.key(2), shape, minval=-7.0, maxval=1.0)
    p = _probs_over_values(discretized_logistic_mixture_log_prob, logits, means, log_scales,
                           mixture=True)
    assert p.shape == (256, 7)
    np.testing.assert_allclose(p.sum(0), 1.0, atol=1e-4)
    # The mixture density is the weighted sum of component densities.
    comp = _probs_over_values(discretized_logistic_log_prob, means, log_scales)  # [256, 7, K]
    np.testing.assert_allclose(p, (jax.nn.softmax(logits) * comp).sum(-1), atol=1e-5)
    # K = 1 is the plain discretised logistic.
    x = jax.random.randint(jax.random.key(3), (7,), 0, 256).astype(jnp.uint8)
    np.testing.assert_allclose(
        discretized_logistic_mixture_log_prob(x, logits[:, :1], means[:, :1], log_scales[:, :1]),
        discretized_logistic_log_prob(x, means[:, 0], log_scales[:, 0]), atol=1e-5)


def _assert_histogram_matches(samples, probs, n):
    """Pearson chi-square over bins with expected count >= 5 (others pooled), tolerant bound."""
    counts = np.bincount(np.asarray(samples).ravel(), minlength=256).astype(np.float64)
    expected = n * np.asarray(probs, np.float64)
    big = expected >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    chi2 = float(((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum())
    dof = int(keep.sum()) - 1
    assert chi2 < dof + 6 * math.sqrt(2 * dof) + 10, (chi2, dof)


@pytest.mark.parametrize("mean,log_scale", [(0.2, -3.5), (-0.98, -3.0), (0.0, 0.0)])
def test_discretized_logistic_sample_histogram(mean, log_scale):
    n = 20000
    mean_b = jnp.full((n,), mean, jnp.float32)
    x = discretized_logistic_sample(jax.random.key(0), mean_b, jnp.float32(log_scale))
    assert x.dtype == jnp.uint8 and x.shape == (n,)
    probs = jnp.exp(discretized_logistic_log_prob(VALUES, mean, log_scale))
    _assert_histogram_matches(x, probs, n)


def test_discretized_logistic_mixture_sample_histogram():
    n = 20000
    logits = jnp.array([0.0, 1.0, -0.5])
    means = jnp.array([-0.6, 0.1, 0.8])
    log_scales = jnp.array([-3.0, -4.0, -2.5])
    x = discretized_logistic_mixture_sample(jax.random.key(1), jnp.broadcast_to(logits, (n, 3)),
                                            means, log_scales)
    assert x.dtype == jnp.uint8 and x.shape == (n,)
    probs = jnp.exp(discretized_logistic_mixture_log_prob(VALUES, logits, means, log_scales))
    _assert_histogram_matches(x, probs, n)


def test_diag_gaussian_log_prob_closed_form():
    x = jnp.array([0.3, -1.2, 2.0])
    mean = jnp.array([0.0, 1.0, 2.5])
    log_scale = jnp.array([0.0, -0.5, 0.7])
    sigma = np.exp(np.asarray(log_scale))
    ref = -0.5 * ((np.asarray(x) - np.asarray(mean)) / sigma) ** 2 - np.log(
        sigma * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(diag_gaussian_log_prob(x, mean, log_scale), ref, rtol=1e-6)


def test_diag_gaussian_sample_moments_and_reparameterisation():
    mean, log_scale = jnp.full((50000,), 1.5), jnp.full((50000,), -0.7)
    z = diag_gaussian_sample(jax.random.key(0), mean, log_scale)
    assert abs(float(z.mean()) - 1.5) < 0.01
    assert abs(float(z.std()) - math.exp(-0.7)) < 0.01
    # Reparameterised: d mean(z) / d mean = 1.
    g = jax.grad(lambda m: diag_gaussian_sample(jax.random.key(0), m, log_scale).mean())(mean)
    np.testing.assert_allclose(g.sum(), 1.0, rtol=1e-5)


def test_kl_closed_form_and_monte_carlo():
    mean = jnp.array([0.0, 1.0, -2.0, 0.5])
    log_scale = jnp.array([0.0, 0.3, -1.0, 0.8])
    kl = kl_diag_gaussian_standard(mean, log_scale)
    s2 = np.exp(2 * np.asarray(log_scale))
    ref = 0.5 * (s2 + np.asarray(mean) ** 2 - 1 - np.log(s2))
    np.testing.assert_allclose(kl, ref, rtol=1e-6, atol=1e-7)
    assert float(kl[0]) == 0.0
    n = 200000
    z = diag_gaussian_sample(jax.random.key(1), mean, jnp.broadcast_to(log_scale, (n, 4)))
    mc = (diag_gaussian_log_prob(z, mean, log_scale) - diag_gaussian_log_prob(z, 0.0, 0.0)).mean(0)
    np.testing.assert_allclose(mc, ref, atol=0.03)


def test_bernoulli_log_prob_is_minus_bce():
    logits = jnp.array([-30.0, -2.0, 0.0, 1.5, 40.0])
    for x in (jnp.zeros(5), jnp.ones(5), jnp.full(5, 0.3)):
        l64, x64 = np.asarray(logits, np.float64), np.asarray(x, np.float64)
        log_p, log_1mp = -np.logaddexp(0, -l64), -np.logaddexp(0, l64)  # float64, exact
        bce = -(x64 * log_p + (1 - x64) * log_1mp)
        lp = bernoulli_log_prob(x, logits)
        assert bool(jnp.all(jnp.isfinite(lp)))
        np.testing.assert_allclose(-lp, bce, rtol=1e-5, atol=1e-6)


def test_bernoulli_sample():
    logits = jnp.full((40000,), 0.8)
    x = bernoulli_sample(jax.random.key(0), logits)
    assert x.dtype == logits.dtype and set(np.unique(x)) <= {0.0, 1.0}
    assert abs(float(x.mean()) - float(jax.nn.sigmoid(0.8))) < 0.01
