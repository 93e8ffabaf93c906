"""Adaptive Density Estimation (ADE; Lucas, Shmelkov, Alahari, Schmid, Verbeek, NeurIPS 2019).

A VAE whose Gaussian likelihood lives in the feature space of an invertible network f_psi, so
pixels are correlated given z and the likelihood stays exact in image space, trained with
likelihood plus an adversarial quality term. Players:

  generator (encoder q(z|x), decoder mu_theta(z) and sigma, flow f_psi) minimises
      L_C + lambda * D * L_Q  (losses.adversarial_scale="per_dim", the default), with
      L_C(x) = -E_q[ln N(f_psi(x'); mu_theta(z), sigma^2)] - ln|det df_psi/dx'| + KL(q || p(z))
      L_Q    = losses.generator(D(x_hat)),  x_hat = f_psi^{-1}(mu_theta(z)), z ~ N(0, I)
      (log_ratio: -E ln(D / (1 - D)), an estimate of KL(p_theta || p_data));
  discriminator minimises losses.discriminator(D(x), D(x_hat)) + penalty (R1 by default).

x' = 2 y - 1 in [-1, 1) where y = (x + u) / 256 is the uniformly dequantised image, so
bpd = (L_C - D ln 2 + D ln 256) / (D ln 2) on the 256-level convention (REFERENCES.md).
L_C is in nats per image and sums over the D sub-pixels, L_Q is per image, so lambda =
losses.adversarial_weight weighs L_Q against the likelihood per sub-pixel, L_C / D + lambda L_Q,
and means the same at any image size; adversarial_scale="per_image" (runs saved before it
existed) weighs L_C + lambda L_Q. lambda = 0 drops the discriminator (the flow-VAE trained by
likelihood alone). model.flow.depth = 0 drops the flow (a pixel-space
Gaussian VAE). Samples are x_hat, the flow's inverse image of the decoder mean.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from genmodels import distributions as dist
from genmodels import flows, losses, models
from genmodels.data import dequantize, to_signed, to_uint8
from genmodels.losses.likelihood import check_iwae, feature_space_elbo, importance_sampled
from genmodels.metrics.names import DISENTANGLEMENT_METRICS, RECONSTRUCTION_METRICS
from genmodels.methods.base import Method, Player
from genmodels.losses.adversarial import discriminator_objective
from genmodels.methods.adversarial import adversarial_method, apply_module
from genmodels.methods.optim import make_optimizer

SIGMAS = ("fixed", "per_channel", "per_pixel")
ADVERSARIAL_SCALES = ("per_dim", "per_image")
# A generated x_hat beyond this (4.5 image ranges past [-1, 1]) counts as an overflow of the
# flow's inverse and stays out of L_Q's gradient (guarded_fakes).
OFF_RANGE = 10.0
DISCRIMINATORS = ("dcgan", "sngan")


# The config fields this method reads beyond the ones every config has (genmodels.config):
# methods.build refuses any other field, so a setting is never silently ignored.
CONFIG_FIELDS = ("model.d_features", "model.decoder_features", "model.dense", "model.discriminator",
                 "model.ema_decay", "model.encoder_features", "model.flow", "model.latent_dim",
                 "model.sigma", "model.sigma_init", "model.spectral_norm",
                 "losses.adversarial_scale", "losses.adversarial_weight",
                 "losses.discriminator", "losses.generator",
                 "losses.penalty", "losses.penalty_weight", "schedule.d_steps", "schedule.g_steps",
                 "optim.generator", "optim.discriminator")


class HybridVAE(nn.Module):
    """Encoder q(z|x), decoder (mu_theta(z), ln sigma) in feature space, feature flow f_psi."""

    image_shape: tuple[int, int, int]
    latent_dim: int
    encoder_features: tuple[int, ...]
    decoder_features: tuple[int, ...]
    dense: int
    sigma: str
    sigma_init: float
    flow: nn.Module | None

    def setup(self):
        channels = self.image_shape[-1]
        self.encoder = models.ConvEncoder(self.latent_dim, self.encoder_features, self.dense)
        outputs = 2 * channels if self.sigma == "per_pixel" else channels
        self.decoder = models.ConvDecoder(self.image_shape, outputs, self.decoder_features,
                                          self.dense)
        if self.sigma == "per_channel":
            self.log_sigma = self.param("log_sigma", nn.initializers.constant(
                math.log(self.sigma_init)), (channels,))

    def encode(self, x_signed):
        return self.encoder(x_signed, False)

    def decode(self, z):
        """(mu_theta(z), ln sigma) in feature space, broadcastable to [B, H, W, C]."""
        out = self.decoder(z, False)
        if self.sigma == "per_pixel":
            mean, log_sigma = jnp.split(out, 2, axis=-1)
            return mean, jnp.maximum(log_sigma, math.log(1e-3))
        if self.sigma == "per_channel":
            return out, self.log_sigma.astype(out.dtype)  # float32 under bf16 params too.
        return out, jnp.full((self.image_shape[-1],), math.log(self.sigma_init))

    def features(self, x_signed):
        """(f_psi(x'), ln|det df_psi/dx'|); the identity without a flow."""
        if self.flow is None:
            return x_signed, jnp.zeros(x_signed.shape[:1])
        return self.flow.forward(x_signed)

    def to_image(self, f):
        """f_psi^{-1}(f), in the [-1, 1] image space."""
        return f if self.flow is None else self.flow.inverse(f)[0]

    def __call__(self, x_signed, z):
        return self.features(x_signed), self.encode(x_signed), self.decode(z)


def check_config(config, info) -> None:
    m = config.model
    if info.kind != "image":
        raise ValueError(f"The hybrid method needs an image dataset; data.name={info.name!r} "
                         f"holds {info.kind}.")
    if m.sigma not in SIGMAS:
        raise ValueError(f"Unknown model.sigma={m.sigma!r}; valid: {', '.join(SIGMAS)}.")
    if m.sigma_init <= 0:
        raise ValueError(f"model.sigma_init={m.sigma_init} must be > 0.")
    if m.discriminator not in DISCRIMINATORS:
        raise ValueError(f"Unknown model.discriminator={m.discriminator!r}; valid: "
                         f"{', '.join(DISCRIMINATORS)}.")
    if config.losses.adversarial_scale not in ADVERSARIAL_SCALES:
        raise ValueError(f"Unknown losses.adversarial_scale={config.losses.adversarial_scale!r}; "
                         f"valid: {', '.join(ADVERSARIAL_SCALES)}.")
    if config.losses.adversarial_weight < 0:
        raise ValueError(f"losses.adversarial_weight={config.losses.adversarial_weight} must be "
                         ">= 0 (0: likelihood only).")
    models.check_divisible(info.shape, len(m.encoder_features), "model.encoder_features")
    models.check_divisible(info.shape, len(m.decoder_features), "model.decoder_features")


def build_discriminator(config, info) -> nn.Module:
    m = config.model
    if m.discriminator == "sngan":
        models.sngan_check_image_shape(info.shape)
        return models.SNGANDiscriminator(m.d_features, None, m.spectral_norm)
    models.dcgan_num_upsamplings(info.shape)
    return models.DCGANDiscriminator(m.d_features, use_batch_norm=False)


def build(config, info) -> Method:
    check_config(config, info)
    m, lc = config.model, config.losses
    flow = flows.make_feature_flow(m.flow, tuple(info.shape), "model.flow") if m.flow.depth else None
    vae = HybridVAE(tuple(info.shape), m.latent_dim, tuple(m.encoder_features),
                    tuple(m.decoder_features), m.dense, m.sigma, m.sigma_init, flow)
    adversarial = lc.adversarial_weight > 0
    discriminator = build_discriminator(config, info)
    d_loss = losses.get("discriminator", lc.discriminator, "losses.discriminator")
    g_loss = losses.get("generator", lc.generator, "losses.generator")
    penalty = losses.get("penalty", lc.penalty, "losses.penalty")
    d = math.prod(info.shape)
    # lambda per sub-pixel (L_C / D + lambda L_Q, times D) or per image (L_C + lambda L_Q).
    adversarial_weight = lc.adversarial_weight * (d if lc.adversarial_scale == "per_dim" else 1)
    iwae_k, iwae_chunk = check_iwae(config.eval)

    def to_bpd(log_p):
        """bits/dim of x on the 256 levels from a bound on ln p(x') of x' = 2 y - 1."""
        return (-log_p - d * math.log(2) + d * math.log(256)) / (d * math.log(2))

    def features_and_posterior(variables, x_uint8, rng):
        """Dequantises x to x' in [-1, 1]^D with half of `rng`; returns the other half (for z),
        the features f_psi(x') with ln|det df/dx'|, and the mean and log-scale of q(z|x')."""
        z_rng, deq_rng = jax.random.split(rng)
        x = 2.0 * dequantize(deq_rng, x_uint8) - 1.0
        f, log_det = vae.apply(variables, x, method=HybridVAE.features)
        mean, log_scale = vae.apply(variables, x, method=HybridVAE.encode)
        return z_rng, f, log_det, mean, log_scale

    def terms(variables, x_uint8, rng):
        """Per-example elbo (of x' in [-1, 1]^D, nats), kl, recon, log_det and bpd; and the
        features f_psi(x')."""
        z_rng, f, log_det, mean, log_scale = features_and_posterior(variables, x_uint8, rng)
        z = dist.diag_gaussian_sample(z_rng, mean, log_scale)
        mu, log_sigma = vae.apply(variables, z, method=HybridVAE.decode)
        kl = jnp.sum(dist.kl_diag_gaussian_standard(mean, log_scale), axis=-1)
        elbo = feature_space_elbo(f, log_det, mu, log_sigma, kl)
        return {"elbo": elbo, "kl": kl, "recon": kl - elbo, "log_det": log_det,
                "bpd": to_bpd(elbo)}, f

    def iwae_terms(variables, x_uint8, rng):
        """`terms` with bpd from the IWAE-k bound (k = eval.iwae_k; k = 1 is `terms` with the
        same randomness), ln w_j = ln N(f_psi(x'); mu(z_j), sigma^2) + ln|det| + ln p(z_j)
        - ln q(z_j|x), all k sharing one dequantisation; bpd_elbo is the k = 1 bound."""
        z_rng, f, log_det, mean, log_scale = features_and_posterior(variables, x_uint8, rng)
        eps = jax.random.normal(z_rng, (iwae_k,) + mean.shape)

        def log_px_z_fn(z):
            mu, log_sigma = vae.apply(variables, z, method=HybridVAE.decode)
            return feature_space_elbo(f, log_det, mu, log_sigma, 0.0)

        log_px_z, bound, kl = importance_sampled(log_px_z_fn, mean, log_scale, eps, iwae_chunk)
        elbo = log_px_z[0] - kl
        return {"elbo": elbo, "kl": kl, "recon": -log_px_z[0], "log_det": log_det,
                "iwae": bound, "iwae_k": jnp.full_like(kl, iwae_k), "bpd": to_bpd(bound),
                "bpd_elbo": to_bpd(elbo)}

    def prior_means(variables, rng, n):
        """mu_theta(z) in feature space for n draws z ~ N(0, I)."""
        return vae.apply(variables, jax.random.normal(rng, (n, m.latent_dim)),
                         method=HybridVAE.decode)[0]

    def generate(variables, rng, n):
        """x_hat = f_psi^{-1}(mu_theta(z)), z ~ N(0, I), in [-1, 1] image space."""
        return vae.apply(variables, prior_means(variables, rng, n), method=HybridVAE.to_image)

    def discriminate(params, collections, x):
        return apply_module(discriminator, params["discriminator"],
                            collections.get("discriminator", {}), x, train=True)

    def shown(x_hat):
        """What D judges of a generated x_hat: the raw values (so that D learns to reject pixels
        off the image range, which no real image has) bounded to [-OFF_RANGE, OFF_RANGE]."""
        return jnp.clip(jnp.nan_to_num(x_hat, nan=0.0), -OFF_RANGE, OFF_RANGE)

    def guarded_fakes(variables, rng, real_features):
        """(x_hat, ok) for the generator's L_Q. The flow's inverse can overflow at the decoder
        means of prior z, points the likelihood never trains on (affine couplings did, early in
        training: docs/hybrid.md, "Stability"), and one inf makes every gradient NaN. A sample whose
        x_hat leaves [-OFF_RANGE, OFF_RANGE]^D (or is not finite) in a gradient-free probe is
        replaced by a real image's features (whose inverse is that image, finite) and kept out
        of L_Q's gradient (ok = False); the fraction is logged as fake_overflow, so no
        replacement is silent."""
        mu = prior_means(variables, rng, real_features.shape[0])
        probe = jax.lax.stop_gradient(vae.apply(variables, mu, method=HybridVAE.to_image))
        ok = jnp.all(jnp.abs(probe) <= OFF_RANGE, axis=tuple(range(1, probe.ndim)))  # NaN: False
        safe_mu = jnp.where(ok.reshape((-1,) + (1,) * (mu.ndim - 1)), mu,
                            jax.lax.stop_gradient(real_features))
        return vae.apply(variables, safe_mu, method=HybridVAE.to_image), ok

    def generator_loss(params, collections, batch, rng):
        t_rng, g_rng = jax.random.split(rng)
        t, real_features = terms({"params": params["generator"]}, batch["image"], t_rng)
        metrics = {k: jnp.mean(v) for k, v in t.items()}
        loss = -metrics["elbo"]
        if adversarial:
            fake, ok = guarded_fakes({"params": params["generator"]}, g_rng, real_features)
            fake_logits, _ = discriminate(params, collections, shown(fake))
            fake_logits = fake_logits.reshape(ok.shape)
            fake_logits = jnp.where(ok, fake_logits, jax.lax.stop_gradient(fake_logits))
            adv = g_loss(fake_logits)
            loss = loss + adversarial_weight * adv
            metrics["adversarial"] = adv
            metrics["fake_abs_max"] = jnp.max(jnp.abs(fake))  # > 1: off the image range.
            metrics["fake_overflow"] = 1.0 - jnp.mean(ok)
        return loss, (metrics, {})

    def discriminator_loss(params, collections, batch, rng):
        fake_rng, penalty_rng = jax.random.split(rng)
        real = to_signed(batch["image"])
        fake = shown(generate({"params": params["generator"]}, fake_rng, real.shape[0]))
        loss, metrics, d_colls = discriminator_objective(
            lambda x, colls: discriminate(params, {"discriminator": colls}, x), real, fake,
            collections.get("discriminator", {}), penalty_rng, loss=d_loss, penalty=penalty,
            penalty_weight=lc.penalty_weight)
        return loss, (metrics, {"discriminator": d_colls})

    def init(rng, batch):
        g_rng, d_rng, deq_rng = jax.random.split(rng, 3)
        # Data-dependent initialisations (actnorm) see a real dequantised batch.
        x = 2.0 * dequantize(deq_rng, batch["image"]) - 1.0
        variables = {"generator": vae.init(g_rng, x, jnp.zeros((x.shape[0], m.latent_dim)))}
        if adversarial:
            variables["discriminator"] = discriminator.init(d_rng, x[:2], train=False)
        return variables

    def sample(variables, rng, n):
        return to_uint8(generate(variables["generator"], rng, n))

    def encode(variables, x_uint8):
        return vae.apply(variables["generator"], to_signed(x_uint8), method=HybridVAE.encode)[0]

    def decode(variables, z):
        mu, _ = vae.apply(variables["generator"], z, method=HybridVAE.decode)
        return to_uint8(vae.apply(variables["generator"], mu, method=HybridVAE.to_image))

    def reconstruct(variables, x_uint8, rng=None):
        return decode(variables, encode(variables, x_uint8))

    def eval_fn(variables, batch, rng):
        return iwae_terms(variables["generator"], batch["image"], rng)

    def bpd(variables, x_uint8, rng):
        return iwae_terms(variables["generator"], x_uint8, rng)["bpd"]

    fields = dict(init=init, sample=sample, eval_fn=eval_fn, encode=encode, decode=decode,
                  reconstruct=reconstruct, bpd=bpd, latent_dim=m.latent_dim,
                  metrics=("bpd",) + RECONSTRUCTION_METRICS + DISENTANGLEMENT_METRICS)
    if adversarial:
        return adversarial_method("hybrid", config, discriminator_loss, generator_loss,
                                  ema_decay=m.ema_decay or None, **fields)
    return Method(name="hybrid", players=(Player(
        "generator", generator_loss, make_optimizer(config.optim.generator, "optim.generator"),
        ema_decay=m.ema_decay or None),), schedule=(("generator", 1),), **fields)
