"""ID-GAN (Lee, Kim, Hong, Lee, "High-Fidelity Synthesis with Disentangled Representation",
ECCV 2020): a beta-VAE learns a disentangled code c (stage 1); a GAN generator G(s, c) then
learns to render it at high fidelity with the encoder frozen (stage 2).

Stage 2 players (the encoder q_phi(c|x) = N(mu_phi(x), sigma_phi(x)^2) is frozen):
  discriminator:  L_D = BCE(D(x), 1) + BCE(D(G(s, c)), 0) + gamma * R1,
  generator:      L_G = BCE(D(G(s, c)), 1) + w_info * E[-ln q_phi(c | G(s, c))]       (paper eq. 6)
with c ~ q_phi(c) = 1/N sum_n q_phi(c | x_n), the aggregate posterior of the training data, and
nuisance s ~ N(0, I). The info term is the full diagonal-Gaussian negative log-density (summed
over the code dims) of the sampled c under the encoder's posterior of the generated image, a
variational lower bound on I(c; G(s, c)) up to the constant H(c) (the paper's eq. 5).
losses.* choose the adversarial losses and penalty by name (defaults: non-saturating BCE, R1
with losses.penalty_weight = gamma); losses.info_weight is w_info.

Stored with the stage-2 variables, in the generator's non-trained collection "stage1" (no
optimizer touches it, so the checkpoint is self-contained and `genmodels.load(W)` needs no
stage-1 workdir): the stage-1 encoder's params ("encoder") and the aggregate-posterior bank
("bank": "mean" and "log_scale" [N, Z] of q_phi(c|x_n) for N = model.posterior_bank training
images, filled at init from the stage-1 run in model.stage1_workdir). Sampling c draws a bank
row uniformly and then c ~ N(mean_n, scale_n^2), i.e. an exact draw from the bank's mixture.

Latent tools: encode(x) = the frozen encoder's posterior mean mu_phi(x) (so the disentanglement
metrics of the evaluator score the stage-1 encoder); decode(c) = G(0, c), the generator at the
nuisance prior's mode s = 0 (deterministic); reconstruct(x) = G(0, mu_phi(x)). Samples use the
generator EMA (model.ema_decay, Player.ema_decay).

`prepare(config, workdir)` (called by genmodels.train.loop before build) runs stage 1 when
model.stage1_workdir is unset: it trains config.stage1 (a beta-VAE config) in W/stage1 (resuming
it if unfinished, returning at once if finished) and points model.stage1_workdir there.
"""

import functools
import logging
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genmodels import data, losses, models
from genmodels import workdir as workdir_lib
from genmodels import distributions as dist
from genmodels.data import to_signed, to_uint8
from genmodels.metrics.names import DISENTANGLEMENT_METRICS, RECONSTRUCTION_METRICS
from genmodels.methods.base import Method
from genmodels.methods.gan import adversarial_method
from genmodels.nn import check_upsample_kind

log = logging.getLogger(__name__)

STAGE1 = "stage1"  # The generator's non-trained collection: frozen encoder and posterior bank.
MODEL_FIELDS = ("stage1_workdir", "posterior_bank", "nuisance_dim", "g_features", "d_features",
                "g_batch_norm", "upsample", "ema_decay")
LOSS_FIELDS = ("generator", "discriminator", "penalty", "penalty_weight", "info_weight")


# -- stage 1 ------------------------------------------------------------------------------------

def _stage1_workdir_config(stage1_workdir: str) -> ml_collections.ConfigDict:
    return workdir_lib.load_config(stage1_workdir)


def check_stage1_config(stage1, config, where: str = "stage1") -> None:
    """ValueError unless `stage1` (a config) is a VAE on stage 2's dataset at stage 2's size."""
    if stage1.get("method") != "vae":
        raise ValueError(f"ID-GAN stage 1 must be a (beta-)VAE: {where}.method="
                         f"{stage1.get('method')!r}, expected 'vae' (configs/betavae.py).")
    s1, s2 = data.get_info(stage1.data), data.get_info(config.data)
    if s1.name != s2.name or tuple(s1.shape) != tuple(s2.shape):
        raise ValueError(
            f"ID-GAN stage 1 and stage 2 must use the same data: {where}.data.name={s1.name!r} "
            f"with image shape {tuple(s1.shape)} (data.image_size="
            f"{stage1.data.get('image_size')}) vs data.name={s2.name!r} with image shape "
            f"{tuple(s2.shape)} (data.image_size={config.data.get('image_size')}); set "
            "stage1.data.name / stage1.data.image_size or data.name / data.image_size to match.")


def prepare(config, workdir: str):
    """Runs (or resumes, or skips) stage 1 and returns the config with model.stage1_workdir set
    and config.stage1 replaced by the stage-1 run's saved config (what the encoder was built
    with). Called by genmodels.train.loop.train_and_evaluate before the method is built."""
    from genmodels.train import loop  # noqa: PLC0415 (loop imports methods)

    config = config.copy_and_resolve_references()
    given = config.model.get("stage1_workdir")
    if not given and workdir_lib.latest_step(workdir):
        # Stage 2 already started in W: its checkpoint holds the encoder and bank; reuse the
        # stage-1 workdir it recorded (which need not exist any more).
        saved = workdir_lib.load_config(workdir)
        given = saved.model.stage1_workdir
        with config.unlocked():
            config.model.stage1_workdir = given
            config.stage1 = saved.stage1
        check_stage1_config(config.stage1, config)
        return config
    if not given:
        if "stage1" not in config:
            raise ValueError("ID-GAN needs config.stage1 (the beta-VAE config of stage 1) or an "
                             "existing stage-1 run in model.stage1_workdir.")
        check_stage1_config(config.stage1, config)
        given = os.path.abspath(os.path.join(workdir, "stage1"))
        log.info("ID-GAN stage 1 (beta-VAE) in %s.", given)
        loop.train_and_evaluate(config.stage1, given)
        log.info("ID-GAN stage 2 (GAN with the frozen encoder) in %s.", workdir)
    stage1 = _stage1_workdir_config(given)
    check_stage1_config(stage1, config, f"the stage-1 run {given}: config")
    step = workdir_lib.latest_step(given)
    if step is None:
        raise ValueError(f"model.stage1_workdir={given!r} has no checkpoint; train stage 1 there "
                         "first or leave model.stage1_workdir unset to train it in W/stage1.")
    if step < stage1.train.num_steps:
        log.warning("Stage-1 run %s stopped at step %d of %d; using its latest checkpoint.",
                    given, step, stage1.train.num_steps)
    with config.unlocked():
        config.model.stage1_workdir = os.path.abspath(given)
        config.stage1 = stage1
    return config


# -- networks and pure functions ------------------------------------------------------------------

def stage1_encoder(stage1_config) -> models.ConvEncoder:
    """The stage-1 VAE's encoder module (genmodels.methods.vae.VAE.encoder)."""
    m = stage1_config.model
    return models.ConvEncoder(m.latent_dim, tuple(m.encoder_features), m.dense)


def generator_module(config, info) -> models.DCGANGenerator:
    """G: [s, c] (nuisance first, then the code) [B, nuisance_dim + Z] -> images in [-1, 1]."""
    m = config.model
    return models.DCGANGenerator(tuple(info.shape), m.g_features, m.upsample, m.g_batch_norm)


def generate_images(generator, g_variables, s, c):
    """G(s, c) in [-1, 1] in eval mode from the generator player's variables (params, batch
    statistics; the stage-1 collection is left out)."""
    variables = {k: v for k, v in g_variables.items() if k != STAGE1}
    return generator.apply(variables, jnp.concatenate([s, c], axis=-1), train=False)


def sample_codes(bank: dict, rng, n: int):
    """n draws from the bank's mixture 1/N sum_n N(mean_n, scale_n^2): a uniform row, then the
    reparameterised Gaussian sample."""
    row_rng, eps_rng = jax.random.split(rng)
    rows = jax.random.randint(row_rng, (n,), 0, bank["mean"].shape[0])
    return dist.diag_gaussian_sample(eps_rng, bank["mean"][rows], bank["log_scale"][rows])


def info_term(encoder, encoder_params, x_signed, c):
    """-ln q_phi(c | x) per example: the diagonal Gaussian negative log-density of code c [B, Z]
    under the encoder's posterior of images x_signed [B, H, W, C] in [-1, 1]."""
    mean, log_scale = encoder.apply({"params": encoder_params}, x_signed, False)
    return -jnp.sum(dist.diag_gaussian_log_prob(c, mean, log_scale), axis=-1)


def check_config(config, info) -> None:
    m, lc = config.model, config.losses
    if info.kind != "image":
        raise ValueError(f"The idgan method needs an image dataset; data.name={info.name!r} "
                         f"holds {info.kind}.")
    for section, known in (("model", MODEL_FIELDS), ("losses", LOSS_FIELDS)):
        unknown = sorted(set(config[section].keys()) - set(known))
        if unknown:
            names = ", ".join(f"{section}.{k}" for k in unknown)
            raise ValueError(f"Unknown idgan field(s) {names}; valid {section} fields: "
                             f"{', '.join(known)}.")
    if "stage1" not in config:
        raise ValueError("The idgan config needs `stage1` (the stage-1 beta-VAE config; see "
                         "configs/idgan.py).")
    check_stage1_config(config.stage1, config)
    if not isinstance(m.posterior_bank, int) or m.posterior_bank < 1:
        raise ValueError(f"model.posterior_bank={m.posterior_bank!r} must be an integer >= 1 "
                         "(training images whose posteriors represent q(c)).")
    if not isinstance(m.nuisance_dim, int) or m.nuisance_dim < 0:
        raise ValueError(f"model.nuisance_dim={m.nuisance_dim!r} must be an integer >= 0.")
    if not lc.info_weight >= 0:
        raise ValueError(f"losses.info_weight={lc.info_weight!r} (w_info) must be >= 0.")
    if not lc.penalty_weight >= 0:
        raise ValueError(f"losses.penalty_weight={lc.penalty_weight!r} (gamma) must be >= 0.")
    if not 0.0 <= m.ema_decay < 1.0:
        raise ValueError(f"model.ema_decay={m.ema_decay} must be in [0, 1) (0 disables the EMA).")
    check_upsample_kind(m.upsample)
    models.dcgan_num_upsamplings(info.shape)


def bank_size(config, info) -> int:
    n = config.model.posterior_bank
    return min(n, info.num_train) if info.num_train else n


@functools.lru_cache(maxsize=4)
def _stage1_values(stage1_workdir: str, num: int, seed: int, encoder_json: str):
    """Host arrays {"encoder": params, "bank": {"mean", "log_scale"}} from a stage-1 run: the
    encoder of its latest checkpoint and the posteriors of `num` random training images."""
    from genmodels import api  # noqa: PLC0415

    model = api.load(stage1_workdir)
    params = jax.tree.map(np.asarray, model.variables["vae"]["params"]["encoder"])
    cfg = model.config
    encoder = stage1_encoder(cfg)
    if encoder_json != cfg.model.to_json(sort_keys=True):
        raise ValueError(f"The stage-1 run {stage1_workdir} was built with model "
                         f"{cfg.model.to_json(sort_keys=True)} but config.stage1.model is "
                         f"{encoder_json}; they must agree (leave config.stage1 as prepare() set "
                         "it, or copy the stage-1 run's model fields into stage1.model).")
    source = data.get_source(cfg.data, "train")
    rows = np.sort(np.random.default_rng(seed).choice(len(source), num, replace=False))
    apply = jax.jit(lambda p, x: encoder.apply({"params": p}, to_signed(x), False))
    means, log_scales = [], []
    for start in range(0, num, 500):
        images = source.read_batch(rows[start:start + 500])["image"]
        mean, log_scale = apply(params, images)
        means.append(np.asarray(mean))
        log_scales.append(np.asarray(log_scale))
    return {"encoder": params, "bank": {"mean": np.concatenate(means).astype(np.float32),
                                        "log_scale": np.concatenate(log_scales).astype(np.float32)}}


def build(config, info) -> Method:
    check_config(config, info)
    m, lc = config.model, config.losses
    encoder = stage1_encoder(config.stage1)
    code_dim = config.stage1.model.latent_dim
    generator = generator_module(config, info)
    discriminator = models.DCGANDiscriminator(m.d_features, use_batch_norm=False)
    d_loss = losses.get("discriminator", lc.discriminator, "losses.discriminator")
    g_loss = losses.get("generator", lc.generator, "losses.generator")
    penalty = losses.get("penalty", lc.penalty, "losses.penalty")
    num_bank = bank_size(config, info)
    bank_seed = config.seed + 1

    def stage1_values(input_shape):
        """The stage-1 collection: loaded from model.stage1_workdir, or zeros of the right
        shapes where there is none (shape-only uses: a checkpoint restore fills them)."""
        workdir = m.get("stage1_workdir")
        if workdir and os.path.isdir(workdir):
            with jax.ensure_compile_time_eval():
                return _stage1_values(workdir, num_bank, bank_seed,
                                      config.stage1.model.to_json(sort_keys=True))
        if workdir:
            log.warning("model.stage1_workdir=%s does not exist: the frozen encoder and the "
                        "posterior bank are zeros until a checkpoint restores them.", workdir)
        shapes = jax.eval_shape(lambda: encoder.init(jax.random.PRNGKey(0),
                                                     jnp.zeros((1,) + input_shape), False))
        zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes["params"])
        bank = np.zeros((num_bank, code_dim), np.float32)
        return {"encoder": zeros, "bank": {"mean": bank, "log_scale": bank.copy()}}

    def g_module_colls(colls):
        return {k: v for k, v in colls.items() if k != STAGE1}

    def generate(g_params, g_colls, rng, n, train):
        """(G(s, c) in [-1, 1], c, updated batch-norm collections); s ~ N(0, I), c ~ q(c)."""
        s_rng, c_rng = jax.random.split(rng)
        c = sample_codes(g_colls[STAGE1]["bank"], c_rng, n)
        s = jax.random.normal(s_rng, (n, m.nuisance_dim))
        x, new_colls = render(g_params, g_colls, s, c, train)
        return x, c, new_colls

    def render(g_params, g_colls, s, c, train):
        variables = {"params": g_params, **g_module_colls(g_colls)}
        if not train:
            return generate_images(generator, variables, s, c), {}
        z = jnp.concatenate([s, c], axis=-1)
        if m.g_batch_norm:
            x, updates = generator.apply(variables, z, train=True, mutable=["batch_stats"])
            return x, dict(updates)
        return generator.apply(variables, z, train=True), {}

    def discriminate(d_params, x):
        return discriminator.apply({"params": d_params}, x, train=True)

    def discriminator_loss(params, collections, batch, rng):
        fake_rng, penalty_rng = jax.random.split(rng)
        real = to_signed(batch["image"])
        fake, _, _ = generate(params["generator"], collections["generator"], fake_rng,
                              real.shape[0], train=True)
        fake = jax.lax.stop_gradient(fake)
        d_params = params["discriminator"]
        real_logits, fake_logits = discriminate(d_params, real), discriminate(d_params, fake)
        reg = penalty(functools.partial(discriminate, d_params), real, fake, penalty_rng)
        metrics = {"d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
                   "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)), "penalty": reg}
        return d_loss(real_logits, fake_logits) + lc.penalty_weight * reg, (metrics, {})

    def generator_loss(params, collections, batch, rng):
        g_colls = collections["generator"]
        fake, c, new_colls = generate(params["generator"], g_colls, rng,
                                      batch["image"].shape[0], train=True)
        adv = g_loss(discriminate(params["discriminator"], fake))
        info_nats = jnp.mean(info_term(encoder, g_colls[STAGE1]["encoder"], fake, c))
        metrics = {"adversarial": adv, "info": info_nats}
        return adv + lc.info_weight * info_nats, (metrics, {"generator": new_colls})

    def init(rng, batch):
        g_rng, d_rng = jax.random.split(rng)
        x = to_signed(batch["image"][:2])
        z = jnp.zeros((2, m.nuisance_dim + code_dim))
        g_vars = dict(generator.init(g_rng, z, train=False))
        g_vars[STAGE1] = jax.tree.map(jnp.asarray, stage1_values(tuple(x.shape[1:])))
        return {"generator": g_vars,
                "discriminator": discriminator.init(d_rng, x, train=False)}

    def sample(variables, rng, n):
        g = variables["generator"]
        x, _, _ = generate(g["params"], g, rng, n, train=False)
        return to_uint8(x)

    def encode(variables, x_uint8):
        enc = variables["generator"][STAGE1]["encoder"]
        return encoder.apply({"params": enc}, to_signed(x_uint8), False)[0]

    def decode(variables, c):
        g = variables["generator"]
        s = jnp.zeros((c.shape[0], m.nuisance_dim), c.dtype)
        return to_uint8(render(g["params"], g, s, c, train=False)[0])

    def reconstruct(variables, x_uint8, rng=None):
        return decode(variables, encode(variables, x_uint8))

    return adversarial_method(
        "idgan", config, discriminator_loss, generator_loss, ema_decay=m.ema_decay or None,
        init=init, sample=sample, encode=encode, decode=decode, reconstruct=reconstruct,
        latent_dim=code_dim, metrics=RECONSTRUCTION_METRICS + DISENTANGLEMENT_METRICS)


__all__ = ["build", "check_stage1_config", "generate_images", "generator_module", "info_term",
           "prepare", "sample_codes", "stage1_encoder"]
