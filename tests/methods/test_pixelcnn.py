"""PixelCNN++: causality, the joint RGB mixture likelihood, sampling and the method end to end."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import configs.pixelcnn
import genmodels
from genmodels import data, methods
from genmodels import distributions as dist
from genmodels.models import pixelcnn as pcnn
from genmodels.train import loop
from genmodels.workdir import read_metrics

K = 2


def tiny_net(dropout=0.0, likelihood="logistic_mixture"):
    return pcnn.PixelCNNPP(features=8, blocks_per_stage=1, num_stages=2, num_mixtures=K,
                           dropout=dropout, likelihood=likelihood)


def tiny_config(**train):
    c = configs.pixelcnn.get_config()
    c.model.update(configs.pixelcnn.network(features=8, blocks_per_stage=1, num_stages=2,
                                            num_mixtures=K, dropout=0.1))
    c.data.batch_size = 16
    c.eval.batch_size = 32
    c.eval.num_examples = 32
    c.train.tensorboard = False
    c.train.update({**dict(num_steps=4, log_every=2, checkpoint_every=2, sample_every=4),
                    **train})
    c.train.num_sample_images = 4
    c.eval.every = 4
    return c


# -- causality ------------------------------------------------------------------------------


def _perturbed(variables, scale=0.1):
    """Adds noise to every parameter (biases start at zero, which would hide dependencies of
    the first pixel, whose inputs are all padding)."""
    leaves, tree = jax.tree.flatten(variables)
    keys = jax.random.split(jax.random.key(42), len(leaves))
    return jax.tree.unflatten(tree, [a + scale * jax.random.normal(k, a.shape)
                                     for a, k in zip(leaves, keys)])


@pytest.mark.parametrize("likelihood", pcnn.LIKELIHOODS)
@pytest.mark.parametrize("conditioned", [False, True], ids=["plain", "conditioned"])
def test_likelihood_params_depend_only_on_the_past(conditioned, likelihood):
    """d params(pixel/channel i) / d x_j == 0 for every j >= i in (raster, channel) order, and
    != 0 for every j < i (no blind spot on a 4x4 image with two stages), for both pixel
    likelihoods."""
    h, w, c = 4, 4, 3
    net = tiny_net(likelihood=likelihood)
    x = jax.random.uniform(jax.random.key(0), (1, h, w, c), minval=-1.0, maxval=1.0)
    cond_map = jax.random.normal(jax.random.key(1), (1, h, w, 5)) if conditioned else None
    cond_vec = jax.random.normal(jax.random.key(2), (1, 3)) if conditioned else None
    variables = _perturbed(net.init(jax.random.key(3), x, cond_map, cond_vec))

    def params(x, cond_map, cond_vec):
        out = net.apply(variables, x, cond_map, cond_vec)
        return jnp.stack(pcnn.conditional_params(out, x, K, likelihood))  # [P, 1, H, W, C, K]

    jac = jax.jacfwd(params)(x, cond_map, cond_vec)  # [P, 1, H, W, C, K, 1, H, W, C]
    dep = np.abs(np.asarray(jac)).sum(axis=(0, 1, 5, 6)).reshape(h * w * c, h * w * c)
    future = np.triu(np.ones_like(dep, bool))  # j >= i, i = (row * W + col) * C + channel.
    assert np.all(dep[future] == 0.0)
    assert np.all(dep[~future] > 0.0)
    if conditioned:  # The conditioning reaches the outputs.
        grads = jax.grad(lambda m, v: params(x, m, v).sum(), (0, 1))(cond_map, cond_vec)
        assert all(float(jnp.abs(g).sum()) > 0 for g in grads)


def test_conditioned_net_starts_as_the_unconditional_one():
    """The conditioning projections start at zero, so at init a conditioned net's output is the
    unconditional net's (same other params) for any conditioning inputs."""
    net = tiny_net()
    x = jax.random.uniform(jax.random.key(0), (2, 4, 4, 3), minval=-1.0, maxval=1.0)
    cond_map = jax.random.normal(jax.random.key(1), (2, 4, 4, 5))
    cond_vec = jax.random.normal(jax.random.key(2), (2, 3))
    conditioned = net.init(jax.random.key(3), x, cond_map, cond_vec)
    plain = net.init(jax.random.key(3), x)
    np.testing.assert_allclose(net.apply(conditioned, x, cond_map, cond_vec),
                               net.apply(plain, x), atol=1e-6)


def test_dropout_only_in_training():
    net = tiny_net(dropout=0.5)
    x = jax.random.uniform(jax.random.key(0), (2, 4, 4, 3), minval=-1.0, maxval=1.0)
    v = net.init(jax.random.key(1), x)
    a, b = (net.apply(v, x, train=True, rngs={"dropout": jax.random.key(i)}) for i in (2, 3))
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(net.apply(v, x), net.apply(v, x))


# -- the joint RGB mixture --------------------------------------------------------------------


def _random_pixel_mixture(seed, k=3, c=3):
    keys = jax.random.split(jax.random.key(seed), 4)
    logits = 2.0 * jax.random.normal(keys[0], (k,))
    means = jax.random.uniform(keys[1], (c, k), minval=-0.9, maxval=0.9)
    log_scales = jax.random.uniform(keys[2], (c, k), minval=-4.0, maxval=-1.0)
    coeffs = jnp.tanh(2.0 * jax.random.normal(keys[3], (dist.num_channel_coeffs(c), k)))
    return logits, means, log_scales, coeffs


@pytest.mark.parametrize("seed", [0, 1])
def test_rgb_mixture_sums_to_one_over_all_colours(seed, xla_optimized):
    """sum over all 256^3 (R, G, B) values of the joint pixel probability is 1."""
    params = _random_pixel_mixture(seed)
    grid = jnp.stack(jnp.meshgrid(jnp.arange(256), jnp.arange(256), indexing="ij"), -1)

    def mass_for_red(red):  # sum over G, B for one R value.
        x = jnp.concatenate([jnp.full((256, 256, 1), red), grid], -1).astype(jnp.uint8)
        return jnp.exp(dist.discretized_logistic_mixture_log_prob(x, *params)).sum()

    # 4 reds at a time: 32 at a time peaked at 13 GB of memory.
    total = jax.lax.map(mass_for_red, jnp.arange(256), batch_size=4).sum()
    assert abs(float(total) - 1.0) < 1e-3


def test_rgb_mixture_matches_reference_and_reduces_to_independent():
    logits, means, log_scales, coeffs = (np.asarray(a, np.float64)
                                         for a in _random_pixel_mixture(2))
    x = np.array([[0, 128, 255], [17, 200, 3], [90, 91, 92]], np.uint8)
    got = dist.discretized_logistic_mixture_log_prob(jnp.asarray(x), *_random_pixel_mixture(2))
    centre = x / 127.5 - 1.0
    ref = []
    for pixel, cen in zip(x, centre):
        mu = means.copy()
        mu[1] += coeffs[0] * cen[0]  # G from R
        mu[2] += coeffs[1] * cen[0] + coeffs[2] * cen[1]  # B from R and G
        comp = [np.exp(np.asarray(dist.discretized_logistic_log_prob(
            jnp.uint8(pixel[ch]), jnp.asarray(mu[ch]), jnp.asarray(log_scales[ch]))))
            for ch in range(3)]
        pi = np.exp(logits - np.log(np.exp(logits).sum()))
        ref.append(np.log((pi * comp[0] * comp[1] * comp[2]).sum()))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    # One channel: the joint likelihood is the per-channel mixture.
    x1 = jnp.asarray(x[:, :1])
    lg, mu, ls = (jnp.asarray(a) for a in (logits, means[:1], log_scales[:1]))
    np.testing.assert_allclose(
        dist.discretized_logistic_mixture_log_prob(x1, lg, mu, ls, jnp.zeros((0, 3))),
        dist.discretized_logistic_mixture_log_prob(x1, lg[None], mu, ls)[:, 0], atol=1e-6)


def test_rgb_mixture_sampler_matches_green_marginal():
    """The sampler draws R then G with the mean shifted by the drawn R: its G histogram matches
    p(G) = sum_k pi_k sum_R P_k(R) P_k(G | R) (chi-square), which independent sampling fails."""
    logits, means, log_scales, coeffs = _random_pixel_mixture(3)
    coeffs = coeffs.at[0].set(jnp.array([0.9, -0.9, 0.8]))  # Strong G <- R dependence.
    n = 20000
    s = dist.discretized_logistic_mixture_sample(jax.random.key(4), jnp.broadcast_to(
        logits, (n, 3)), means, log_scales, coeffs)
    assert s.shape == (n, 3) and s.dtype == jnp.uint8
    values = jnp.arange(256, dtype=jnp.uint8)
    p_r = jnp.exp(dist.discretized_logistic_log_prob(values[:, None], means[0], log_scales[0]))
    mu_g = means[1] + coeffs[0] * (values[:, None] / 127.5 - 1.0)  # [R, K]
    p_g = jnp.exp(dist.discretized_logistic_log_prob(values[:, None, None], mu_g,
                                                     log_scales[1]))  # [G, R, K]
    probs = np.asarray((jax.nn.softmax(logits) * (p_g * p_r).sum(1)).sum(-1), np.float64)
    counts = np.bincount(np.asarray(s[:, 1]), minlength=256)
    big = n * probs >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(n * probs[big], n * probs[~big].sum())
    chi2 = float(((obs - exp) ** 2 / np.maximum(exp, 1e-9)).sum())
    dof = len(obs) - 1
    assert chi2 < dof + 6 * math.sqrt(2 * dof) + 10, (chi2, dof)


# -- the 256-way categorical -------------------------------------------------------------------


def _random_categorical_outputs(seed, c=3, lead=()):
    """Raw categorical outputs for `lead` pixels, peaked enough to leave few likely values."""
    return 3.0 * jax.random.normal(jax.random.key(seed),
                                   lead + (dist.num_categorical_outputs(c),))


@pytest.mark.parametrize("seed", [0, 1])
def test_rgb_categorical_sums_to_one_over_all_colours(seed, xla_optimized):
    """All 256^3 colours of one pixel (a run-time-bound sum: compiled with full optimisation)."""
    out = _random_categorical_outputs(seed)
    grid = jnp.stack(jnp.meshgrid(jnp.arange(256), jnp.arange(256), indexing="ij"), -1)

    def mass_for_red(red):
        x = jnp.concatenate([jnp.full((256, 256, 1), red), grid], -1).astype(jnp.uint8)
        return jnp.exp(dist.categorical_pixel_log_prob(x, out)).sum()

    # 4 reds at a time: 32 at a time peaked at 13 GB of memory.
    total = jax.lax.map(mass_for_red, jnp.arange(256), batch_size=4).sum()
    assert abs(float(total) - 1.0) < 1e-4


def test_rgb_categorical_matches_reference():
    """ln P(x) against a float64 numpy transcription of the module docstring's formula."""
    out = _random_categorical_outputs(2, lead=(3,))
    x = np.array([[0, 128, 255], [17, 200, 3], [90, 91, 92]], np.uint8)
    got = dist.categorical_pixel_log_prob(jnp.asarray(x), out)
    raw = np.asarray(out, np.float64)
    a, b = raw[:, :768].reshape(3, 3, 256), raw[:, 768:].reshape(3, 3, 256)
    v = x / 127.5 - 1.0
    ref = []
    for i in range(3):
        logits = [a[i, 0], a[i, 1] + b[i, 0] * v[i, 0],  # pairs (R,G), (R,B), (G,B)
                  a[i, 2] + b[i, 1] * v[i, 0] + b[i, 2] * v[i, 1]]
        ref.append(sum(lg[x[i, ch]] - np.log(np.exp(lg).sum()) for ch, lg in enumerate(logits)))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)


def test_categorical_sampler_matches_joint_distribution():
    """Chi-square of 20,000 two-channel draws against the exact joint P(x_0, x_1), which
    includes x_1's dependence on the drawn x_0."""
    c, n = 2, 20000
    out = _random_categorical_outputs(3, c)
    s = dist.categorical_pixel_sample(jax.random.key(4), jnp.broadcast_to(out, (n, out.size)), c)
    assert s.shape == (n, c) and s.dtype == jnp.uint8
    grid = jnp.stack(jnp.meshgrid(jnp.arange(256), jnp.arange(256), indexing="ij"), -1)
    probs = np.exp(np.asarray(dist.categorical_pixel_log_prob(grid.astype(jnp.uint8), out),
                              np.float64)).ravel()
    counts = np.bincount(np.asarray(s[:, 0], np.int64) * 256 + np.asarray(s[:, 1]),
                         minlength=256 * 256)
    big = n * probs >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(n * probs[big], n * probs[~big].sum())
    chi2 = float(((obs - exp) ** 2 / np.maximum(exp, 1e-9)).sum())
    dof = len(obs) - 1
    assert dof >= 10 and chi2 < dof + 6 * math.sqrt(2 * dof) + 10, (chi2, dof)


# -- sampling -------------------------------------------------------------------------------


@pytest.mark.parametrize("likelihood", pcnn.LIKELIHOODS)
def test_sampler_shapes_noise_coupling_and_memorised_image(likelihood):
    """A net fitted to one image samples it back (mean error < 4 levels of 256); the same rng
    gives the same samples."""
    target = jax.random.randint(jax.random.key(0), (1, 4, 4, 3), 0, 256).astype(jnp.uint8)
    net = pcnn.PixelCNNPP(features=16, blocks_per_stage=1, num_stages=1, num_mixtures=K,
                          dropout=0.0, likelihood=likelihood)
    x_signed = target.astype(jnp.float32) / 127.5 - 1.0
    params = net.init(jax.random.key(1), x_signed)
    opt = optax.adam(optax.cosine_decay_schedule(1e-2, 600))  # Decay: sub-level precision.

    def nll(p):
        return -pcnn.log_prob(net.apply(p, x_signed), target, K, likelihood).sum()

    @jax.jit
    def fit(p):
        def step(carry, _):
            p, s = carry
            g = jax.grad(nll)(p)
            u, s = opt.update(g, s)
            return (optax.apply_updates(p, u), s), None
        return jax.lax.scan(step, (p, opt.init(p)), None, length=600)[0][0]

    params = fit(params)
    assert float(nll(params)) / 48 < 0.5  # < 0.5 nat per sub-pixel: nearly deterministic.
    draw = jax.jit(lambda rng: pcnn.sample(lambda x, cond: net.apply(params, x, cond), rng, 5,
                                           (4, 4, 3), K, likelihood=likelihood))
    samples = draw(jax.random.key(2))
    assert samples.shape == (5, 4, 4, 3) and samples.dtype == jnp.uint8
    np.testing.assert_array_equal(samples, draw(jax.random.key(2)))
    err = np.abs(np.asarray(samples, np.float32) - np.asarray(target, np.float32))
    assert err.mean() < 4.0, err.mean()


def test_row_block_ends():
    assert pcnn.row_block_ends(32, 4, 4) == (8, 16, 24, 32)
    assert pcnn.row_block_ends(8, 3, 2) == (2, 4, 8)
    assert pcnn.row_block_ends(8, 8, 2) == (2, 4, 6, 8)  # At most H / row_multiple blocks.
    assert pcnn.row_block_ends(8, 1, 2) == (8,)
    with pytest.raises(ValueError, match="row_multiple"):
        pcnn.row_block_ends(8, 2, 3)


def _net_and_conditioning(conditioned, n=4, h=8, w=8, c=3):
    """The tiny net (2 stages) with perturbed parameters, and an AGAVE-style conditioning map
    (a 4x4 feature map nearest-upsampled to h x w) or None."""
    net = tiny_net()
    cond_map = None
    if conditioned:
        low = jax.random.normal(jax.random.key(5), (n, h // 2, w // 2, 6))
        cond_map = jax.image.resize(low, (n, h, w, 6), "nearest")
    x = jnp.zeros((1, h, w, c))
    variables = _perturbed(net.init(jax.random.key(6), x, None if cond_map is None
                                    else cond_map[:1]))
    return net, variables, cond_map


@pytest.mark.parametrize("conditioned", [False, True], ids=["plain", "conditioned"])
def test_pass_over_top_rows_equals_top_rows_of_full_pass(conditioned):
    """What the row-blocked sampler relies on: the network on the top `top` rows (a multiple of
    the downsampling factor 2) gives the top rows of the full pass. Equal up to float rounding
    only: XLA picks its matmul kernels by size, so the last bits can differ."""
    net, variables, cond_map = _net_and_conditioning(conditioned)
    x = jax.random.uniform(jax.random.key(7), (4, 8, 8, 3), minval=-1.0, maxval=1.0)
    apply = jax.jit(net.apply)
    full = apply(variables, x, cond_map)
    scale = float(jnp.abs(full).max())
    for top in (2, 4, 6):
        crop = apply(variables, x[:, :top], None if cond_map is None else cond_map[:, :top])
        np.testing.assert_allclose(crop, full[:, :top], rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize("conditioned", [False, True], ids=["plain", "conditioned"])
def test_row_blocked_sampler_equals_full_pass_sampler(conditioned):
    """row_blocks=4 (passes over the top 2, 4, 6, 8 rows) draws the same uint8 samples as
    row_blocks=1 (full passes) for the same rng, with and without a conditioning map."""
    n, shape = 4, (8, 8, 3)
    net, variables, cond_map = _net_and_conditioning(conditioned, n)

    def draw(rng, row_blocks):
        return pcnn.sample(lambda x, cond: net.apply(variables, x, cond), rng, n, shape, K,
                           cond_map=cond_map, row_blocks=row_blocks,
                           row_multiple=pcnn.downsampling_factor(2))

    draw = jax.jit(draw, static_argnums=1)
    for seed in (0, 1):
        full = draw(jax.random.key(seed), 1)
        assert full.shape == (n, *shape) and full.dtype == jnp.uint8
        assert len(np.unique(np.asarray(full))) > 10  # Not a degenerate (constant) sample.
        np.testing.assert_array_equal(draw(jax.random.key(seed), 4), full)


# -- the method --------------------------------------------------------------------------------


@pytest.mark.parametrize("likelihood", pcnn.LIKELIHOODS)
def test_trains_and_loads(tmp_path, likelihood):
    workdir = str(tmp_path)
    config = tiny_config()
    config.model.likelihood = likelihood
    state = loop.train_and_evaluate(config, workdir)
    assert int(state.step) == 4
    train = read_metrics(workdir, "train")
    assert all(np.isfinite(r["loss/pixelcnn"]) for r in train)
    (ev,) = read_metrics(workdir, "eval")
    assert ev["num_examples"] == 32 and 0.0 < ev["bpd"] < 9.0
    model = genmodels.load(workdir)
    samples = model.sample(3, seed=1)
    assert samples.shape == (3, 8, 8, 1) and samples.dtype == np.uint8
    bpd = model.bpd(samples)
    assert bpd.shape == (3,) and np.all(np.isfinite(bpd)) and np.all(bpd > 0)
    # bpd is the exact -log2 p(x) / D of the network's likelihood.
    net = configs.pixelcnn.network(features=8, blocks_per_stage=1, num_stages=2,
                                   num_mixtures=K, dropout=0.1, likelihood=likelihood)
    out = pcnn.PixelCNNPP(**net).apply(model.variables["pixelcnn"],
                                       jnp.asarray(samples, jnp.float32) / 127.5 - 1.0)
    expected = -pcnn.log_prob(out, jnp.asarray(samples), K, likelihood) / (64 * math.log(2))
    np.testing.assert_allclose(bpd, expected, rtol=1e-5)


def test_presets():
    paper = configs.pixelcnn.get_config("cifar10").model
    assert (paper.blocks_per_stage, paper.features, paper.num_mixtures, paper.dropout) == (
        5, 160, 10, 0.5)
    assert pcnn.num_outputs(3, 10) == 100  # 10 K outputs per RGB pixel, as in the paper.
    assert configs.pixelcnn.get_config("categorical").model.likelihood == "categorical"
    assert pcnn.num_outputs(1, 10, "categorical") == 256


@pytest.mark.parametrize("field,value,match", [
    ("num_stages", 5, "model.num_stages"),
    ("num_stages", 0, "model.num_stages"),
    ("dropout", 1.0, "model.dropout"),
    ("features", 0, "model.features"),
    ("num_mixtures", 0, "model.num_mixtures"),
    ("likelihood", "softmax", "model.likelihood"),
])
def test_bad_config_fields(field, value, match):
    c = tiny_config()
    c.model[field] = value
    with pytest.raises(ValueError, match=match):
        methods.build(c, data.get_info(c.data))


def test_shifted_conv_shapes():
    from genmodels.nn import ShiftedConv, ShiftedConvTranspose

    x = jnp.ones((2, 4, 6, 3))
    for kernel, right in itertools.product([(2, 3), (2, 2)], [False, True]):
        down = ShiftedConv(5, kernel, right, 2)
        y = down.apply(down.init(jax.random.key(0), x), x)
        assert y.shape == (2, 2, 3, 5)
        up = ShiftedConvTranspose(5, kernel, right)
        assert up.apply(up.init(jax.random.key(0), y), y).shape == (2, 4, 6, 5)
