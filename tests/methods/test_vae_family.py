"""The VAE family: the IWAE bound, beta-VAE, AE and RAE (regularisers, ex-post densities),
their configs and errors."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import configs.ae
import configs.betavae
import configs.rae
import genmodels
from genmodels import data, methods
from genmodels.methods import rae as rae_lib
from genmodels.losses import likelihood as likelihood_lib
from genmodels.methods import vae as vae_lib
from genmodels.nn.spectral import power_iteration_sigma
from genmodels.train import loop
from genmodels.workdir import read_metrics
from tests.helpers import tiny_vae

TINY_TRAIN = dict(num_steps=4, log_every=2, checkpoint_every=4, sample_every=4)


def _images(n=64, config=None):
    config = config or tiny_vae()
    return next(data.eval_batches(config.data, "test", batch_size=n))["image"]


def _vae(k, likelihood="discretized_logistic"):
    config = tiny_vae()
    config.eval.iwae_k, config.eval.iwae_chunk = k, 4  # Chunks of 4: a remainder at k=5, 50.
    config.model.likelihood = likelihood
    info = data.get_info(config.data)
    return methods.build(config, info), config, info


def _vae_variables(method, seed=0):
    return method.init(jax.random.PRNGKey(seed), {"image": _images(2)})


def _encoder_out(variables):
    """The params of the encoder's last Dense (to mean and log_scale)."""
    enc = variables["vae"]["params"]["encoder"]
    return enc[sorted(k for k in enc if k.startswith("Dense"))[-1]]


def _set_posterior(variables, mean_shift, log_scale):
    """q(z|x) with the encoder's output layer zeroed: N(mean_shift, exp(log_scale)^2)."""
    out = _encoder_out(variables)
    z = out["bias"].shape[0] // 2
    out["kernel"] = jnp.zeros_like(out["kernel"])
    out["bias"] = jnp.concatenate([jnp.full((z,), mean_shift), jnp.full((z,), log_scale)])
    return variables


# --- the IWAE bound ----------------------------------------------------------------------------

def test_iwae_bound_is_above_the_elbo_and_grows_with_k():
    x = _images(64)
    bounds = {}
    for k in (1, 5, 50):
        method, _, _ = _vae(k)
        variables = _vae_variables(method)
        # A deliberately poor posterior (shifted, too narrow): a wide gap between the ELBO and
        # ln p(x) that the bound closes as k grows, so the differences are far above the noise.
        variables = _set_posterior(variables, 0.8, -1.0)
        eval_fn = jax.jit(method.eval_fn)
        runs = [eval_fn(variables, {"image": x}, jax.random.PRNGKey(r)) for r in range(8)]
        bounds[k] = np.stack([np.asarray(r["iwae"]) for r in runs])  # [repeats, B]
        elbo = np.stack([np.asarray(r["elbo"]) for r in runs])
        assert np.all(np.asarray(runs[0]["iwae_k"]) == k)
        np.testing.assert_allclose(runs[0]["bpd"] - runs[0]["bpd_elbo"],
                                   (runs[0]["elbo"] - runs[0]["iwae"]) / (64 * np.log(2)),
                                   rtol=1e-4, atol=1e-6)
    # Tolerance: each L_k estimate is a Monte Carlo average over 8 x 64 (repeat, image) draws;
    # E[L_k] is non-decreasing in k (Burda et al., Thm 1), so a drop would have to exceed 4
    # standard errors of the paired per-image difference to be noise.
    for small, large in ((1, 5), (5, 50)):
        diff = (bounds[large] - bounds[small]).mean(0)  # Per image, paired by image.
        se = diff.std(ddof=1) / np.sqrt(diff.size)
        assert diff.mean() > 4 * se > 0, (small, large, diff.mean(), se)
    # The analytic-KL ELBO is the expectation of L_1: equal within the same noise level.
    gap = (bounds[1] - elbo).mean(0)
    assert abs(gap.mean()) < 4 * gap.std(ddof=1) / np.sqrt(gap.size) + 1e-3
    assert bounds[50].mean() > elbo.mean()


def test_iwae_k1_log_weight_matches_an_explicit_computation():
    """k=1: the bound is ln p(x|z0) + ln N(z0; 0, I) - ln q(z0|x) with the ELBO's own z0."""
    method, config, info = _vae(1)
    variables = _vae_variables(method, seed=3)
    x = _images(16)
    rng = jax.random.PRNGKey(5)
    out = method.eval_fn(variables, {"image": x}, rng)
    m = config.model
    module = vae_lib.VAE(tuple(info.shape), m.latent_dim, tuple(m.encoder_features),
                         tuple(m.decoder_features), m.dense, 2, m.upsample)
    mean, log_scale = module.apply(variables["vae"], data.to_signed(x), method=vae_lib.VAE.encode)
    eps, _ = likelihood_lib.posterior_noise(rng, 1, 16, m.latent_dim)
    mean, scale = np.asarray(mean, np.float64), np.exp(np.asarray(log_scale, np.float64))
    z0 = mean + scale * np.asarray(eps[0], np.float64)
    log_w = (-np.asarray(out["recon"], np.float64) + stats.norm.logpdf(z0).sum(-1)
             - stats.norm.logpdf(z0, mean, scale).sum(-1))
    np.testing.assert_allclose(out["iwae"], log_w, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(out["bpd"], -log_w / (64 * np.log(2)), rtol=1e-5)
    # The ELBO uses the same sample: recon + kl differs from -L_1 only by the KL estimate.
    kl_mc = stats.norm.logpdf(z0, mean, scale).sum(-1) - stats.norm.logpdf(z0).sum(-1)
    np.testing.assert_allclose(-out["iwae"] - out["recon"], kl_mc, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("likelihood", ["discretized_logistic", "gaussian_fixed"])
def test_iwae_with_posterior_equal_to_prior_equals_the_elbo(likelihood):
    """q = p(z) and a decoder that ignores z: every log weight is the same ln p(x|z) (the
    Gaussians' k samples share one dequantisation), so L_k = L_1 = ELBO exactly, for any k."""
    for k in (1, 5):
        method, _, _ = _vae(k, likelihood)
        variables = _set_posterior(_vae_variables(method), 0.0, 0.0)
        dec = variables["vae"]["params"]["decoder"]["Dense_0"]
        dec["kernel"] = jnp.zeros_like(dec["kernel"])
        out = method.eval_fn(variables, {"image": _images(16)}, jax.random.PRNGKey(1))
        np.testing.assert_allclose(out["kl"], 0.0, atol=1e-6)
        np.testing.assert_allclose(out["iwae"], out["elbo"], rtol=1e-6)
        np.testing.assert_allclose(out["bpd"], out["bpd_elbo"], rtol=1e-6)
        assert np.all(np.isfinite(out["bpd"]) & (out["bpd"] > 0))


# --- ex-post densities -------------------------------------------------------------------------

def _moments(z):
    return z.mean(0), np.cov(z, rowvar=False)


@pytest.mark.parametrize("kind", ["gaussian", "gmm"])
def test_density_sampler_reproduces_the_codes_mean_and_covariance(kind):
    rng = np.random.default_rng(0)
    if kind == "gaussian":
        a = rng.normal(size=(3, 3))
        codes = rng.multivariate_normal([1.0, -2.0, 0.5], a @ a.T + 0.1 * np.eye(3), 20_000)
    else:  # Three separated, differently shaped clusters.
        centres = np.array([[4.0, 0.0, 0.0], [-4.0, 2.0, 0.0], [0.0, -3.0, 3.0]])
        scales = np.array([[1.0, 0.3, 0.5], [0.2, 1.0, 0.4], [0.6, 0.6, 0.2]])
        labels = rng.choice(3, 20_000, p=[0.5, 0.3, 0.2])
        codes = centres[labels] + scales[labels] * rng.normal(size=(20_000, 3))
    density = rae_lib.fit_density(codes, kind, components=10, seed=0)
    k = 1 if kind == "gaussian" else 10
    assert density["means"].shape == (k, 3) and density["scale_tril"].shape == (k, 3, 3)
    np.testing.assert_allclose(np.exp(density["log_weights"]).sum(), 1.0, rtol=1e-5)
    samples = np.asarray(jax.jit(rae_lib.sample_density, static_argnums=2)(
        density, jax.random.PRNGKey(0), 200_000), np.float64)
    (m_codes, c_codes), (m_samples, c_samples) = _moments(codes), _moments(samples)
    # Standard errors: std / sqrt(n) for means (n = 20k codes dominates), ~ var * sqrt(2 / n)
    # for covariances; 0.05 absolute is > 5 such errors for every entry here.
    np.testing.assert_allclose(m_samples, m_codes, atol=0.05)
    np.testing.assert_allclose(c_samples, c_codes, atol=0.05 * np.abs(c_codes).max())
    if kind == "gmm":  # Multimodal: the samples reproduce each cluster's mass, not just moments.
        nearest = np.argmin(((samples[:, None] - centres) ** 2).sum(-1), axis=1)
        np.testing.assert_allclose(np.bincount(nearest) / len(samples), [0.5, 0.3, 0.2],
                                   atol=0.01)


# --- RAE regularisers --------------------------------------------------------------------------

def _tiny_rae(regularizer="l2", **model):
    c = configs.rae.get_config()
    c.model.update(dict(latent_dim=3, encoder_features=(4,), decoder_features=(4,), dense=8,
                        regularizer=regularizer, density="gaussian", **model))
    c.data.batch_size = 16
    c.eval.batch_size = 64
    c.train.tensorboard = False
    c.train.update(TINY_TRAIN)
    c.eval.every = 4
    return c


def _rae_setup(config):
    info = data.get_info(config.data)
    method = methods.build(config, info)
    m = config.model
    sn = m.spectral_norm_iterations if m.regularizer == "spectral_norm" else 0
    module = rae_lib.AutoEncoder(tuple(info.shape), m.latent_dim, tuple(m.encoder_features),
                                 tuple(m.decoder_features), m.dense, m.upsample, sn)
    variables = method.init(jax.random.PRNGKey(0), {"image": _images(2)})
    return method, module, variables


def _loss(method, variables, x, rng=jax.random.PRNGKey(0)):
    params = {"ae": variables["ae"]["params"]}
    colls = {"ae": {k: v for k, v in variables["ae"].items() if k != "params"}}
    return method.players[0].loss_fn(params, colls, {"image": x}, rng)


def test_l2_regulariser_is_the_decoder_sum_of_squares():
    x = _images(16)
    with_l2, _, variables = _rae_setup(_tiny_rae("l2", reg_weight=0.5))
    plain, _, _ = _rae_setup(_tiny_rae("none"))
    dec = variables["ae"]["params"]["decoder"]
    expected = sum(np.sum(np.asarray(p, np.float64) ** 2) for p in jax.tree.leaves(dec))
    (loss_l2, (metrics, _)), (loss_none, _) = _loss(with_l2, variables, x), _loss(
        plain, variables, x)
    np.testing.assert_allclose(metrics["reg"], expected, rtol=1e-5)
    np.testing.assert_allclose(loss_l2 - loss_none, 0.5 * expected, rtol=1e-4)
    # The decoder only: the encoder's weights are not decayed.
    enc_sq = sum(np.sum(np.asarray(p) ** 2) for p in
                 jax.tree.leaves(variables["ae"]["params"]["encoder"]))
    assert abs(float(metrics["reg"]) - expected) < 1e-3 * enc_sq


def test_gradient_penalty_matches_an_explicit_jacobian_and_finite_differences():
    _, module, variables = _rae_setup(_tiny_rae("gp"))

    def decode(z):
        return module.apply(variables["ae"], z, method=rae_lib.AutoEncoder.decode)

    z = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
    # Explicit per-example Jacobians [B, D, Z] (reverse mode, one example at a time).
    jac = np.stack([np.asarray(jax.jacrev(lambda zi: decode(zi[None]).ravel())(z[i]),
                               np.float64) for i in range(5)])
    frob = (jac ** 2).sum((1, 2))
    np.testing.assert_allclose(rae_lib.gradient_penalty(decode, z, "frobenius"), frob, rtol=1e-5)
    # Central finite differences, float32 with step 1e-2: ~1e-3 relative error.
    h = 1e-2
    fd = sum(np.sum(np.asarray(decode(z + h * e) - decode(z - h * e), np.float64).reshape(5, -1)
                    ** 2, -1) / (2 * h) ** 2 for e in np.eye(3))
    np.testing.assert_allclose(frob, fd, rtol=1e-2)
    # Hutchinson: ||J v||^2 for its own v, unbiased for ||J||_F^2.
    rng = jax.random.PRNGKey(2)
    v = np.asarray(jax.random.normal(rng, z.shape), np.float64)
    np.testing.assert_allclose(rae_lib.gradient_penalty(decode, z, "hutchinson", rng),
                               (np.einsum("bdz,bz->bd", jac, v) ** 2).sum(-1), rtol=1e-4)
    many = np.mean([rae_lib.gradient_penalty(decode, z, "hutchinson", jax.random.PRNGKey(s))
                    for s in range(400)], axis=0)
    # Var of ||Jv||^2 is 2 ||J^T J||_F^2 <= 2 ||J||_F^4: 400 probes, SE <= 7% of the value.
    np.testing.assert_allclose(many, frob, rtol=0.3)
    np.testing.assert_allclose(rae_lib.gradient_penalty(decode, z, "output_sum"),
                               (jac.sum(1) ** 2).sum(-1), rtol=1e-5)


def test_gp_loss_term_is_the_mean_penalty_at_the_codes():
    method, module, variables = _rae_setup(_tiny_rae("gp", reg_weight=2.0, gp_form="frobenius"))
    plain, _, _ = _rae_setup(_tiny_rae("none"))
    x = _images(8)
    z = module.apply(variables["ae"], data.to_signed(x), method=rae_lib.AutoEncoder.encode)
    jac = jax.vmap(jax.jacfwd(lambda zi: module.apply(
        variables["ae"], zi[None], method=rae_lib.AutoEncoder.decode).ravel()))(z)
    expected = float(jnp.mean(jnp.sum(jac ** 2, (1, 2))))
    (loss, (metrics, _)), (loss_none, _) = _loss(method, variables, x), _loss(plain, variables, x)
    np.testing.assert_allclose(metrics["reg"], expected, rtol=1e-4)
    np.testing.assert_allclose(loss - loss_none, 2.0 * expected, rtol=1e-4)


def test_spectral_norm_decoder_has_unit_top_singular_values_and_updates_only_in_training():
    method, module, variables = _rae_setup(_tiny_rae("spectral_norm"))
    params, spectral = variables["ae"]["params"]["decoder"], variables["ae"]["spectral"]
    kernels = {path: w for path, w in jax.tree_util.tree_leaves_with_path(params) if w.ndim >= 2}
    assert len(kernels) == 4  # Dense_0, Dense_1, up_0, out: every decoder layer.
    x = _images(16)
    # Training calls run one power iteration each and return the new vectors.
    for step in range(30):
        _, (_, updated) = _loss(method, variables, x, jax.random.PRNGKey(step))
        assert set(updated) == {"ae"}
        variables = {"ae": {**variables["ae"], **updated["ae"]}}
    new = variables["ae"]["spectral"]
    assert jax.tree.structure(new) == jax.tree.structure(spectral)
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(spectral)):
        # u in R^out is a unit vector: for the 1-channel output conv it is fixed (+-1).
        np.testing.assert_allclose(np.linalg.norm(a), 1.0, rtol=1e-5)
        assert a.size == 1 or not np.allclose(a, b)
    for path, w in kernels.items():
        name = "_".join(str(k.key) for k in path[:-1] if k.key != "layer")
        u = new["decoder"][name][f"{path[-1].key}_u"]
        mat = np.asarray(w).reshape(-1, w.shape[-1])
        sigma, _ = power_iteration_sigma(jnp.asarray(mat), u, 0)
        top = np.linalg.svd(mat / float(sigma), compute_uv=False)[0]
        np.testing.assert_allclose(top, 1.0, rtol=2e-2, err_msg=name)
    # Evaluation and sampling read the vectors but never write them.
    before = jax.tree.map(np.asarray, variables)
    method.eval_fn(variables, {"image": x}, jax.random.PRNGKey(0))
    jax.tree.map(np.testing.assert_array_equal, before, jax.tree.map(np.asarray, variables))
    # A 1-Lipschitz-per-layer decoder (swish is 1.1-Lipschitz): the Jacobian norm is bounded.
    z = jax.random.normal(jax.random.PRNGKey(0), (4, 3))
    jac = jax.vmap(jax.jacfwd(lambda zi: module.apply(
        variables["ae"], zi[None], method=rae_lib.AutoEncoder.decode).ravel()))(z)
    assert np.all(np.linalg.norm(np.asarray(jac), ord=2, axis=(1, 2)) < 1.1 ** 3 * 1.05)


# --- configs through the trainer ----------------------------------------------------------------

def _check_density_sampling(workdir, codes_mean_equal):
    model = genmodels.load(workdir)
    samples = model.sample(6, seed=3)
    assert samples.shape == (6, *model.info.shape) and samples.dtype == np.uint8
    density = model._sampling_variables["ae"]["density"]
    # sample() decodes draws of the fitted density with the same key.
    z = rae_lib.sample_density(density, jax.random.PRNGKey(3), 6)
    np.testing.assert_array_equal(samples, model.decode(z))
    # The density was fitted on the codes of the (whole, here) training split.
    source = data.get_source(model.config.data, "train")
    codes = model.encode(source.read_batch(np.arange(len(source)))["image"])
    weights = np.exp(density["log_weights"])
    mean = (weights[:, None] * density["means"]).sum(0)
    np.testing.assert_allclose(mean, codes.mean(0), rtol=1e-3, atol=1e-3 * np.abs(codes).max())
    if codes_mean_equal:  # The Gaussian: also its covariance.
        cov = density["scale_tril"][0] @ density["scale_tril"][0].T
        np.testing.assert_allclose(cov, np.cov(codes, rowvar=False, bias=True), rtol=1e-2,
                                   atol=1e-3 * np.abs(codes).max() ** 2)
    return model


@pytest.mark.parametrize("regularizer", ["gp", "spectral_norm"])
def test_rae_config_trains_and_samples_from_the_fitted_density(tmp_path, regularizer):
    config = _tiny_rae(regularizer)
    state = loop.train_and_evaluate(config, str(tmp_path))
    records = read_metrics(str(tmp_path), "train")
    assert [r["step"] for r in records] == [2, 4]
    assert all(np.isfinite(r["loss/ae"]) and 0 < r["recon"] < 1 and r["psnr"] > 0
               for r in records)
    if regularizer == "spectral_norm":  # The training loss updated the power-iteration vectors.
        init = methods.build(config, data.get_info(config.data)).init(
            jax.random.split(jax.random.PRNGKey(config.seed))[0], {"image": _images(2)})
        changed = jax.tree.map(lambda a, b: a.size == 1 or not np.allclose(a, b),
                               init["ae"]["spectral"], state.collections["ae"]["spectral"])
        assert all(jax.tree.leaves(changed))  # (A 1-channel output's u is +-1: fixed.)
    assert os.path.exists(tmp_path / "samples" / "step_00000004.png")
    (final,) = read_metrics(str(tmp_path), "eval")  # Test-split recon (eval_fn) and psnr.
    assert 0 < final["recon"] < 1 and final["psnr"] > 0 and final["num_examples"] == 297
    assert final["psnr"] >= -10 * np.log10(final["recon"]) - 1e-3  # Jensen: -log is convex.
    _check_density_sampling(str(tmp_path), codes_mean_equal=True)


def test_ae_config_trains_with_a_gmm_sampler_and_reports_reconstructions(tmp_path):
    config = configs.ae.get_config()
    tiny = _tiny_rae("none")
    config.model.update({k: tiny.model[k] for k in ("latent_dim", "encoder_features",
                                                   "decoder_features", "dense")})
    config.model.density_components = 3
    config.update_from_flattened_dict({"data.batch_size": 16, "train.tensorboard": False,
                                       "eval.every": 4})
    config.train.update(TINY_TRAIN)
    assert config.method == "ae" and config.model.beta == 0 and config.model.density == "gmm"
    loop.train_and_evaluate(config, str(tmp_path))
    model = _check_density_sampling(str(tmp_path), codes_mean_equal=False)
    assert model.method.name == "ae" and "ae" in methods.METHODS
    x = _images(8)
    out = model.method.eval_fn(model.variables, {"image": x}, jax.random.PRNGKey(0))
    recon = model.reconstruct(x).astype(np.float64)
    mse = ((x.astype(np.float64) - recon) ** 2).reshape(8, -1).mean(-1) / 255.0 ** 2
    np.testing.assert_allclose(out["recon"], mse, rtol=1e-5)
    np.testing.assert_allclose(out["psnr"], 10 * np.log10(1 / mse), rtol=1e-5)
    assert model.method.bpd is None  # No likelihood.


def test_betavae_config_trains_on_dsprites(tmp_path):
    config = configs.betavae.get_config()
    assert (config.data.name, config.data.image_size, config.model.likelihood,
            config.model.latent_dim, config.model.beta) == ("dsprites", 32, "bernoulli", 10, 4.0)
    config.model.update(dict(encoder_features=(4, 4, 4), decoder_features=(4, 4, 4), dense=8))
    config.data.batch_size = 16
    config.train.tensorboard = False
    config.train.update(TINY_TRAIN)
    config.eval.update(dict(every=4, num_examples=64, disentanglement_num_examples=500))
    loop.train_and_evaluate(config, str(tmp_path))
    records = read_metrics(str(tmp_path), "train")
    assert [r["step"] for r in records] == [2, 4]
    for r in records:  # The loss is recon + beta * kl, not the ELBO.
        np.testing.assert_allclose(r["loss/vae"], r["recon"] + 4.0 * r["kl"], rtol=1e-5)
        assert "bpd" not in r
    (final,) = read_metrics(str(tmp_path), "eval")
    assert final["iwae_k"] == 1 and 0 <= final["mig"] <= 1 and "bpd" not in final
    np.testing.assert_allclose(final["elbo"], -(final["recon"] + final["kl"]), rtol=1e-5)
    model = genmodels.load(str(tmp_path))
    assert model.sample(4).shape == (4, 32, 32, 1) and model.method.bpd is None
    for preset in ("dsprites64", "idgan", "celeba64"):
        c = configs.betavae.get_config(preset)
        methods.build(c, data.get_info(c.data))  # Shapes and fields are consistent.


def test_vae_load_bpd_is_the_iwae_bound_of_eval(tmp_path):
    config = tiny_vae(num_steps=4, checkpoint_every=4, sample_every=4)
    config.eval.iwae_k, config.eval.iwae_chunk = 6, 4
    loop.train_and_evaluate(config, str(tmp_path))
    evals = read_metrics(str(tmp_path), "eval")
    assert evals[-1]["iwae_k"] == 6 and evals[-1]["bpd"] <= evals[-1]["bpd_elbo"] + 0.05
    model = genmodels.load(str(tmp_path))
    x = _images(16)
    expected = model.method.eval_fn(model.variables, {"image": x}, jax.random.PRNGKey(4))["bpd"]
    np.testing.assert_allclose(model.bpd(x, seed=4), expected, rtol=1e-6)


# --- presets and errors -----------------------------------------------------------------------

def test_rae_presets_follow_the_paper_latent_sizes():
    sizes = {p: configs.rae.get_config(p).model.latent_dim
             for p in ("default", "mnist", "cifar10", "celeba64")}
    assert sizes == {"default": 16, "mnist": 16, "cifar10": 128, "celeba64": 64}
    for preset in sizes:
        c = configs.rae.get_config(preset)
        methods.build(c, data.get_info(c.data))


@pytest.mark.parametrize("make, field, value, valid", [
    (_tiny_rae, "model.regularizer", "l1", "none, l2, gp, spectral_norm"),
    (_tiny_rae, "model.density", "kde", "gaussian, gmm"),
    (_tiny_rae, "model.gp_form", "exact", "frobenius, hutchinson, output_sum"),
    (_tiny_rae, "model.reg_weight", -1.0, ">= 0"),
    (_tiny_rae, "model.density_components", 0, ">= 1"),
    (configs.ae.get_config, "model.regularizer", "l2", "'none'"),
    (configs.ae.get_config, "model.beta", 1e-3, "valid: 0"),
    (tiny_vae, "eval.iwae_k", 0, ">= 1"),
    (tiny_vae, "eval.iwae_chunk", -2, ">= 1"),
    (tiny_vae, "model.beta", -1.0, ">= 0"),
    (configs.betavae.get_config, "model.likelihood", "binary", "bernoulli"),
])
def test_bad_config_fields_name_the_field_and_the_valid_values(make, field, value, valid):
    config = make()
    section, leaf = field.split(".")
    config[section][leaf] = value
    with pytest.raises(ValueError) as error:
        methods.build(config, data.get_info(config.data))
    assert field in str(error.value) and valid in str(error.value)


def test_unfitted_rae_refuses_to_sample():
    method, _, variables = _rae_setup(_tiny_rae("none"))
    with pytest.raises(ValueError, match="prepare_sampling"):
        method.sample(variables, jax.random.PRNGKey(0), 2)
