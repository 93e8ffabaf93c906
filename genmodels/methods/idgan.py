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

import jax
import jax.numpy as jnp
import numpy as np

from genmodels import data, losses, models
from genmodels import workdir as workdir_lib
from genmodels import distributions as dist
from genmodels.data import to_signed, to_uint8
from genmodels.metrics.names import DISENTANGLEMENT_METRICS, RECONSTRUCTION_METRICS
from genmodels.methods.base import Method
from genmodels.losses.adversarial import discriminator_objective
from genmodels.methods.adversarial import adversarial_method
from genmodels.nn import check_upsample_kind

log = logging.getLogger(__name__)

STAGE1 = "stage1"  # The generator's non-trained collection: frozen encoder and posterior bank.


# -- stage 1 ------------------------------------------------------------------------------------

# The config fields this method reads beyond the ones every config has (genmodels.config):
# methods.build refuses any other field, so a setting is never silently ignored.
CONFIG_FIELDS = ("model.d_features", "model.ema_decay", "model.g_batch_norm", "model.g_features",
                 "model.nuisance_dim", "model.posterior_bank", "model.stage1_workdir",
                 "model.upsample", "losses.discriminator", "losses.generator", "losses.info_weight",
                 "losses.penalty", "losses.penalty_weight", "schedule.d_steps", "schedule.g_steps",
                 "optim.generator", "optim.discriminator", "stage1")


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


# How a stage-1 run's trained encoder is read: f(stage1_workdir) -> (encoder params, the run's
# config). Restoring a checkpoint belongs to the layer that runs jobs, which sets it
# (genmodels.train.stages); until then build uses zeros of the right shapes, which is what
# shape-only uses and a restore of a stage-2 checkpoint (which holds the encoder) need.
_stage1_loader = None


def set_stage1_loader(loader) -> None:
    global _stage1_loader
    _stage1_loader = loader


@functools.lru_cache(maxsize=4)
def _stage1_values(stage1_workdir: str, num: int, seed: int, encoder_json: str):
    """Host arrays {"encoder": params, "bank": {"mean", "log_scale"}} from a stage-1 run: the
    encoder of its latest checkpoint and the posteriors of `num` random training images."""
    params, cfg = _stage1_loader(stage1_workdir)
    params = jax.tree.map(np.asarray, params)
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
        workdir = m.stage1_workdir
        exists = bool(workdir) and workdir_lib.path(workdir).is_dir()
        if exists and _stage1_loader is not None:
            with jax.ensure_compile_time_eval():
                return _stage1_values(workdir, num_bank, bank_seed,
                                      config.stage1.model.to_json(sort_keys=True))
        if workdir and not exists:
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
        loss, metrics, _ = discriminator_objective(
            lambda x, colls: (discriminate(params["discriminator"], x), colls), real, fake, {},
            penalty_rng, loss=d_loss, penalty=penalty, penalty_weight=lc.penalty_weight)
        return loss, (metrics, {})

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
           "sample_codes", "stage1_encoder"]
