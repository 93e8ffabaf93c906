"""AGAVE: the objective term by term, the IWAE bound, z-sensitivity, training and config errors."""

import json
import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import configs.agave
import configs.pixelcnn
import genmodels
from genmodels import api, data, methods, models
from genmodels.methods import agave
from genmodels.models import pixelcnn as pcnn
from genmodels.train import loop
from genmodels.workdir import read_metrics

K = 2


def tiny_config(**train):
    c = configs.agave.get_config()
    c.model.update(dict(latent_dim=3, encoder_features=(8,), decoder_features=(8,), dense=16,
                        cond_features=4, kl_weight=3.0))
    c.model.update(configs.pixelcnn.network(features=8, blocks_per_stage=1, num_stages=2,
                                            num_mixtures=K, dropout=0.0))
    c.data.batch_size = 16
    c.eval.batch_size = 32
    c.eval.num_examples = 32
    c.eval.iwae_k = 4
    c.eval.iwae_chunk = 2
    c.train.tensorboard = False
    c.train.update({**dict(num_steps=4, log_every=2, checkpoint_every=2, sample_every=4),
                    **train})
    c.train.num_sample_images = 4
    c.eval.every = 4
    return c


def _setup(config, n=16, conditioned=True):
    """Method, variables and a test batch; `conditioned` gives the z projections values."""
    method = methods.build(config, data.get_info(config.data))
    batch = next(data.eval_batches(config.data, "test", batch_size=n))
    batch = {"image": jnp.asarray(batch["image"])}
    variables = method.init(jax.random.key(0), batch)
    return method, _conditioned(variables) if conditioned else variables, batch


def _conditioned(variables, scale=0.3):
    """The conditioning projections start at zero (the PixelCNN ignores z at init); give them
    values, as training does, so that tests see a decoder that uses z."""
    def perturb(path, a):
        if "cond_map" not in jax.tree_util.keystr(path):
            return a
        return scale * jax.random.normal(jax.random.key(a.size), a.shape)
    return jax.tree_util.tree_map_with_path(perturb, variables)


def test_untrained_decoder_ignores_z():
    """Zero-initialised conditioning: at init p(x|z) is the same for every z."""
    method, variables, _ = _setup(tiny_config(), n=4, conditioned=False)
    used = jax.jit(method.z_sensitivity, static_argnums=2)(variables, jax.random.key(3), 4)
    assert float(used["z_change"]) == 0.0 and float(used["noise_change"]) > 0


def _reference_terms(m, params, x_uint8, rng):
    """ln p(x|z), ln p(y|z), KL per example, from the submodules' params and closed forms,
    without going through agave.AGAVE."""
    x = x_uint8.astype(jnp.float32) / 127.5 - 1.0
    mean, log_scale = models.ConvEncoder(m.latent_dim, m.encoder_features, m.dense).apply(
        {"params": params["encoder"]}, x, False)
    eps = jax.random.normal(jax.random.split(rng)[0], mean.shape)
    z = mean + jnp.exp(log_scale) * eps
    xs = np.asarray(x_uint8, np.float64)
    b, h, w, c = xs.shape
    if m.aux_target == "lowres":
        f = m.aux_factor
        y = np.round(xs.reshape(b, h // f, f, w // f, f, c).mean((2, 4)))
    elif m.aux_target == "quantized":
        y = np.floor(xs * m.aux_levels / 256)
    else:
        y = xs
    feats = nn.elu(models.ConvDecoder(y.shape[1:], m.cond_features, m.decoder_features,
                                      m.dense).apply({"params": params["aux_decoder"]}, z,
                                                     False))
    aux_out = nn.Dense(c * (m.aux_levels if m.aux_target == "quantized" else 2)).apply(
        {"params": params["aux_head"]}, feats)
    aux_out = np.asarray(aux_out, np.float64).reshape(y.shape + (-1,))
    if m.aux_target == "quantized":
        logp = aux_out - np.log(np.exp(aux_out).sum(-1, keepdims=True))
        log_py = np.take_along_axis(logp, y.astype(int)[..., None], -1).sum((1, 2, 3, 4))
    else:  # Discretised logistic from CDF differences (float64).
        mu, s = aux_out[..., 0], np.exp(np.maximum(aux_out[..., 1], -7.0))
        centre = y / 127.5 - 1.0
        sig = lambda t: 1.0 / (1.0 + np.exp(-t))  # noqa: E731
        up = np.where(y == 255, 1.0, sig((centre + 1 / 255 - mu) / s))
        lo = np.where(y == 0, 0.0, sig((centre - 1 / 255 - mu) / s))
        log_py = np.log(up - lo).sum((1, 2, 3))
    if m.cond_source == "aux":  # The mean of p(y|z) on [-1, 1]: location, or expected bin centre.
        if m.aux_target == "quantized":
            p = np.exp(logp)
            lo = np.arange(m.aux_levels) * 256 / m.aux_levels  # Level l's uint8 values lo..hi.
            centres = ((lo + (lo + 256 / m.aux_levels - 1)) / 2) / 127.5 - 1
            feats = (p * centres).sum(-1)
        else:
            feats = aux_out[..., 0]
    cond = np.repeat(np.repeat(np.asarray(feats, np.float32), h // y.shape[1], 1),
                     w // y.shape[2], 2)
    net = pcnn.PixelCNNPP(m.features, m.blocks_per_stage, m.num_stages, m.num_mixtures, 0.0,
                          m.likelihood)
    out = net.apply({"params": params["pixelcnn"]}, x, cond_map=jnp.asarray(cond))
    log_px = pcnn.log_prob(out, x_uint8, m.num_mixtures, m.likelihood)
    mean, log_scale = np.asarray(mean, np.float64), np.asarray(log_scale, np.float64)
    kl = (0.5 * (np.exp(2 * log_scale) + mean**2 - 1) - log_scale).sum(-1)
    return np.asarray(log_px, np.float64), log_py, kl


@pytest.mark.parametrize(
    "target,likelihood,source",
    [(t, "logistic_mixture", "features") for t in agave.AUX_TARGETS]
    + [("lowres", "categorical", "features"), ("lowres", "logistic_mixture", "aux"),
       ("quantized", "logistic_mixture", "aux")])
def test_loss_equals_its_terms(target, likelihood, source):
    """loss = -mean(ln p(x|z) + ln p(y|z) - lambda KL) / (D ln 2), terms recomputed apart, with
    either pixel likelihood of the PixelCNN and either conditioning source."""
    c = tiny_config()
    c.model.aux_target = target
    c.model.likelihood = likelihood
    c.model.cond_source = source
    method, variables, batch = _setup(c)
    params = {"agave": variables["agave"]["params"]}
    rng = jax.random.key(5)
    loss, (metrics, _) = method.player("agave").loss_fn(params, {}, batch, rng)
    log_px, log_py, kl = _reference_terms(c.model, params["agave"], batch["image"], rng)
    d = 64 * math.log(2)
    expected = -np.mean(log_px + log_py - c.model.kl_weight * kl) / d
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)
    np.testing.assert_allclose(float(metrics["kl"]), kl.mean(), rtol=1e-4)
    np.testing.assert_allclose(float(metrics["aux_nll"]), -log_py.mean(), rtol=1e-4)
    np.testing.assert_allclose(float(metrics["bpd"]), -np.mean(log_px - kl) / d, rtol=1e-4)
    assert np.all(log_py < 0) and np.all(kl > 0)


def test_iwae_bound_above_elbo_and_grows_with_k():
    """Averaged over examples and draws: ELBO <= L_1 ~ ELBO <= L_4 <= L_32 (in bpd: >=)."""
    results = {}
    for k in (1, 4, 32):
        c = tiny_config()
        c.eval.iwae_k, c.eval.iwae_chunk = k, 8
        method, variables, batch = _setup(c, n=32)
        fn = jax.jit(method.eval_fn)
        runs = [fn(variables, batch, jax.random.key(s)) for s in range(6)]
        results[k] = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
        assert all(float(r["iwae_k"][0]) == k for r in runs)
    elbo = results[32]["bpd_elbo"]
    se = 0.02 * abs(elbo)
    assert abs(results[1]["bpd"] - results[1]["bpd_elbo"]) < se  # L_1 is an ELBO estimate.
    assert results[4]["bpd"] < elbo
    assert results[32]["bpd"] < results[4]["bpd"] < results[1]["bpd"]
    r = results[32]
    np.testing.assert_allclose(r["kl_bpd"], r["kl"] / (64 * math.log(2)), rtol=1e-5)
    np.testing.assert_allclose(r["bpd_elbo"], -r["elbo"] / (64 * math.log(2)), rtol=1e-5)


def test_z_sensitivity_is_zero_iff_decoder_ignores_z():
    method, variables, _ = _setup(tiny_config())
    rng = jax.random.key(3)
    used = jax.jit(method.z_sensitivity, static_argnums=2)(variables, rng, 8)
    assert float(used["z_change"]) > 0 and float(used["noise_change"]) > 0
    # Cut f(z) out of every gated block: the samples no longer depend on z.
    cut = jax.tree_util.tree_map_with_path(
        lambda path, a: a * 0 if "cond_map" in jax.tree_util.keystr(path) else a, variables)
    ignored = jax.jit(method.z_sensitivity, static_argnums=2)(cut, rng, 8)
    assert float(ignored["z_change"]) == 0.0 and float(ignored["noise_change"]) > 0


@pytest.mark.parametrize("source", agave.COND_SOURCES)
def test_pixelcnn_starts_where_pixelcnn_alone_starts(source):
    """Paired runs: with the same key, AGAVE's PixelCNN is initialised to the params of the
    pixelcnn method's network (conditioning projections at zero), and so computes the same
    log-likelihood."""
    c = tiny_config()
    c.model.cond_source = source
    method, variables, batch = _setup(c, conditioned=False)
    p = configs.pixelcnn.get_config()
    p.model.update({k: c.model[k] for k in configs.pixelcnn.network()})
    alone = methods.build(p, data.get_info(p.data))
    alone_params = alone.init(jax.random.key(0), batch)["pixelcnn"]["params"]
    flat = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_flatten_with_path(
        variables["agave"]["params"]["pixelcnn"])[0]}
    for path, v in jax.tree_util.tree_flatten_with_path(alone_params)[0]:
        np.testing.assert_array_equal(flat.pop(jax.tree_util.keystr(path)), v)
    assert flat and all("cond_map" in k and not np.any(v) for k, v in flat.items())
    recon = method.player("agave").loss_fn({"agave": variables["agave"]["params"]}, {}, batch,
                                           jax.random.key(1))[1][0]["recon"]
    bpd_alone = alone.bpd({"pixelcnn": {"params": alone_params}}, batch["image"])
    np.testing.assert_allclose(float(recon) / (64 * math.log(2)), float(jnp.mean(bpd_alone)),
                               rtol=1e-5)


def test_cond_scale_multiplies_the_map_and_zero_cuts_z_off():
    """model.cond_scale multiplies f(z)'s map before the PixelCNN's projections: with scale s the
    network's output equals scale 1 with every projection multiplied by s, and s = 0 makes the
    samples independent of z even with non-zero projections."""
    c = tiny_config()
    method, variables, batch = _setup(c)
    c.model.cond_scale = 0.25
    scaled = methods.build(c, data.get_info(c.data))
    rng = jax.random.key(5)
    times = jax.tree_util.tree_map_with_path(
        lambda path, a: 0.25 * a if "cond_map" in jax.tree_util.keystr(path) else a, variables)
    loss_scaled = scaled.player("agave").loss_fn(
        {"agave": variables["agave"]["params"]}, {}, batch, rng)[0]
    loss_times = method.player("agave").loss_fn(
        {"agave": times["agave"]["params"]}, {}, batch, rng)[0]
    np.testing.assert_allclose(loss_scaled, loss_times, rtol=1e-6)
    c.model.cond_scale = 0.0
    cut = methods.build(c, data.get_info(c.data))
    used = jax.jit(cut.z_sensitivity, static_argnums=2)(variables, jax.random.key(3), 8)
    assert float(used["z_change"]) == 0.0 and float(used["noise_change"]) > 0


def test_trains_loads_and_reports(tmp_path):
    workdir = str(tmp_path)
    loop.train_and_evaluate(tiny_config(), workdir)
    (ev,) = read_metrics(workdir, "eval")
    for key in ("bpd", "bpd_elbo", "kl", "kl_bpd", "elbo", "recon"):
        assert np.isfinite(ev[key]), key
    assert ev["iwae_k"] == 4 and ev["kl"] > 0 and 0 < ev["bpd"] < 9
    model = genmodels.load(workdir)
    x = model.sample(3, seed=1)
    assert x.shape == (3, 8, 8, 1) and x.dtype == np.uint8
    bpd = model.bpd(x)
    assert bpd.shape == (3,) and np.all(np.isfinite(bpd))
    z = model.encode(x)
    assert z.shape == (3, 3)
    np.testing.assert_array_equal(model.decode(z), model.decode(z))  # Fixed PixelCNN noise.
    assert model.reconstruct(x).shape == x.shape
    sens = agave.z_sensitivity(model, n=4)
    assert set(sens) == {"z_change", "noise_change", "z_noise_ratio"}
    assert model.method.decode_aux(model.variables, jnp.asarray(z)).shape == (3, 4, 4, 1)
    results = api.evaluate_checkpoint(workdir)
    saved = json.load(open(os.path.join(workdir, "eval", "step_00000004.json")))
    assert saved["bpd"] == results["bpd"] and saved["iwae_k"] == 4


def test_presets():
    paper = configs.agave.get_config("cifar10").model
    assert paper.kl_weight == 12.0 and paper.features == 160 and paper.dropout == 0.5


@pytest.mark.parametrize("field,value,match", [
    ("aux_target", "edges", "model.aux_target.*image, lowres, quantized"),
    ("kl_weight", 0.5, "model.kl_weight.*>= 1"),
    ("aux_factor", 3, "model.aux_factor.*dividing"),
    ("aux_levels", 1, "model.aux_levels.*\\[2, 128\\]"),
    ("num_stages", 5, "model.num_stages"),
    ("dropout", -0.1, "model.dropout"),
    ("cond_scale", -1.0, "model.cond_scale.*>= 0"),
    ("cond_source", "image", "model.cond_source.*features, aux"),
])
def test_bad_config_fields(field, value, match):
    c = tiny_config()
    c.model[field] = value
    if field == "aux_levels":
        c.model.aux_target = "quantized"
    with pytest.raises(ValueError, match=match):
        methods.build(c, data.get_info(c.data))
