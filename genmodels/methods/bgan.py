"""Mixed-batch GANs with symmetric discriminators: BGAN and M-BGAN (Lucas, Tallec, Ollivier,
Verbeek, ICML 2018). See docs/bgan.md.

The discriminator sees a whole batch b that mixes real and generated samples and predicts the
fraction of real ones. Per mixed batch: p ~ U[0, 1] (or bgan.fixed_ratio); each of the B slots
holds the real sample with probability p and the generated one otherwise; the target is the
realised fraction of real slots t = mean_i m_i (bgan.target="realised", or the sampled p). With
per-element scores s_i of a permutation-invariant discriminator:
  BGAN:    D(b) = sigmoid(mean_i s_i),  L_D = -E[t ln D(b) + (1 - t) ln(1 - D(b))]
  M-BGAN:  every s_i predicts t on its own, L_D = E[mean_i BCE(sigmoid(s_i); t)]
bgan.element_weight = lam > 0 adds lam * mean_i BCE(sigmoid(s_i); m_i), every score also judging its
own slot (not in the paper; docs/bgan.md). bgan.point_weight = mu > 0 adds a per-sample
discriminator beside the set one (the same network without set layers; not in the paper): its
scores q_i add mu * mean_i BCE(sigmoid(q_i); m_i) to L_D and mu * losses.generator(q) on the
all-generated batch to the generator's loss. The generator wants its all-generated batches predicted
as real: losses.generator applied to the batch logit mean_i s_i (BGAN) or to every s_i (M-BGAN);
"non_saturating" minimises -ln D(b_fake).
"""

import jax
import jax.numpy as jnp

from genmodels import losses, models
from genmodels.methods.base import Method
from genmodels.methods.adversarial import (adversarial_method, apply_module, build_generator,
                                           data_key, ema_sampling, to_data_space, to_model_space)
from genmodels.nn.sets import check_pool, resolve_set_layers

VARIANTS = ("bgan", "mbgan")
TARGETS = ("realised", "sampled")
ARCHITECTURES = ("dcgan", "mlp")  # Those with a set discriminator.
# The config fields this method reads beyond the ones every config has (genmodels.config):
# methods.build refuses any other field, so a setting is never silently ignored.
CONFIG_FIELDS = ("bgan", "model.arch", "model.base_features", "model.d_hidden",
                 "model.d_set_layers", "model.d_use_batch_norm", "model.ema_decay",
                 "model.ema_batch_stats",
                 "model.g_hidden", "model.latent_dim", "model.maxout", "model.set_pool",
                 "model.upsample", "model.use_batch_norm", "model.init", "model.bn_epsilon",
                 "model.bn_momentum", "losses.generator", "schedule.d_steps", "schedule.g_steps",
                 "schedule.simultaneous", "optim.generator", "optim.discriminator")


def sample_ratio(rng: jax.Array, fixed_ratio=None) -> jax.Array:
    """p ~ U[0, 1], or the constant fixed_ratio when it is given."""
    if fixed_ratio is not None:
        return jnp.asarray(fixed_ratio, jnp.float32)
    return jax.random.uniform(rng)


def mix_batches(rng: jax.Array, real: jax.Array, fake: jax.Array, p) -> tuple[jax.Array, jax.Array]:
    """(mixed, mask): m_i ~ Bernoulli(p) per slot; mixed_i = real_i if m_i else fake_i.

    p = 0 gives the fake batch and p = 1 the real one exactly.
    """
    mask = jax.random.bernoulli(rng, p, (real.shape[0],))
    select = mask.reshape(-1, *([1] * (real.ndim - 1)))
    return jnp.where(select, real, fake), mask


def ratio_bce(logits: jax.Array, target: jax.Array) -> jax.Array:
    """Element-wise -(t ln sigmoid(l) + (1 - t) ln(1 - sigmoid(l))), stable for any logit."""
    return -(target * jax.nn.log_sigmoid(logits) + (1.0 - target) * jax.nn.log_sigmoid(-logits))


def binary_entropy(t: jax.Array) -> jax.Array:
    """H(t) = -t ln t - (1 - t) ln(1 - t) (0 ln 0 = 0): the minimum over l of ratio_bce(l, t)."""
    return -(jax.scipy.special.xlogy(t, t) + jax.scipy.special.xlogy(1.0 - t, 1.0 - t))


def ratio_loss(scores: jax.Array, target: jax.Array, variant: str) -> jax.Array:
    """Discriminator loss of scores [..., B] for targets [...], averaged over the leading axes.

    bgan:  BCE(mean_i s_i; t);   mbgan:  mean_i BCE(s_i; t).
    """
    target = jnp.asarray(target, jnp.float32)[..., None]
    if variant == "bgan":
        return jnp.mean(ratio_bce(jnp.mean(scores, axis=-1, keepdims=True), target))
    return jnp.mean(ratio_bce(scores, target))


def element_loss(scores: jax.Array, masks: jax.Array) -> jax.Array:
    """mean_i BCE(sigmoid(s_i); m_i): each score judged as a per-sample GAN logit of its own slot
    (m_i = 1 real, 0 generated), averaged over every slot of every mix; scores, masks [..., B]."""
    return jnp.mean(ratio_bce(scores, masks.astype(jnp.float32)))


def predicted_ratio(scores: jax.Array, variant: str) -> jax.Array:
    """The batch's predicted fraction of real samples: sigmoid(mean_i s_i) (bgan) or the ensemble
    mean_i sigmoid(s_i) (mbgan); scores [..., B] -> [...]."""
    if variant == "bgan":
        return jax.nn.sigmoid(jnp.mean(scores, axis=-1))
    return jnp.mean(jax.nn.sigmoid(scores), axis=-1)


def generator_logits(scores: jax.Array, variant: str) -> jax.Array:
    """What losses.generator sees for an all-fake batch: [mean_i s_i] (bgan) or every s_i."""
    return jnp.mean(scores, axis=-1, keepdims=True) if variant == "bgan" else scores


def check_config(config) -> None:
    """ValueErrors naming the field for bad bgan.* and model fields (shapes: build_generator)."""
    b, m = config.bgan, config.model
    if m.arch not in ARCHITECTURES:
        raise ValueError(f"model.arch={m.arch!r} has no set discriminator; bgan supports "
                         f"{', '.join(ARCHITECTURES)}.")
    if b.variant not in VARIANTS:
        raise ValueError(f"Unknown BGAN variant {b.variant!r} (bgan.variant); valid: "
                         f"{', '.join(VARIANTS)}.")
    if b.target not in TARGETS:
        raise ValueError(f"Unknown BGAN target {b.target!r} (bgan.target); valid: "
                         f"{', '.join(TARGETS)}.")
    if not isinstance(b.mixes_per_step, int) or b.mixes_per_step < 1:
        raise ValueError(f"bgan.mixes_per_step={b.mixes_per_step!r} must be an integer >= 1.")
    if b.fixed_ratio is not None and not 0.0 <= b.fixed_ratio <= 1.0:
        raise ValueError(f"bgan.fixed_ratio={b.fixed_ratio} must be in [0, 1] (or None: "
                         "p ~ U[0, 1]).")
    check_pool(m.set_pool, "model.set_pool")
    if not b.element_weight >= 0.0:
        raise ValueError(f"bgan.element_weight={b.element_weight} must be >= 0 (0: the paper's "
                         "loss, without the per-slot term).")
    if not b.point_weight >= 0.0:
        raise ValueError(f"bgan.point_weight={b.point_weight} must be >= 0 (0: the set "
                         "discriminator alone, as in the paper).")
    if not 0.0 <= m.ema_decay < 1.0:
        raise ValueError(f"model.ema_decay={m.ema_decay} must be in [0, 1) (0 disables the EMA).")


def build_discriminator(config, info):
    """The set discriminator for model.arch (mlp: points; dcgan: images); with
    bgan.point_weight > 0, a SetAndPointDiscriminator that returns (set, point) scores."""
    m = config.model
    stages = len(m.d_hidden) if m.arch == "mlp" else models.dcgan_num_upsamplings(info.shape)
    resolve_set_layers(tuple(m.d_set_layers), stages, "model.d_set_layers")

    def network(set_layers):
        if m.arch == "mlp":
            return models.SetMLPDiscriminator(tuple(m.d_hidden), m.maxout, set_layers,
                                              m.set_pool, models.weight_init(m.init))
        return models.SetDCGANDiscriminator(m.base_features, m.d_use_batch_norm, set_layers,
                                            m.set_pool)

    if not config.bgan.point_weight:
        return network(tuple(m.d_set_layers))
    return models.SetAndPointDiscriminator(network(tuple(m.d_set_layers)), network(()))


def build(config, info) -> Method:
    m, b = config.model, config.bgan
    check_config(config)
    generator = build_generator(config, info)  # Validates the data kind, shapes, upsampling.
    discriminator = build_discriminator(config, info)
    g_loss = losses.get("generator", config.losses.generator, "losses.generator")
    key = data_key(info)
    variant, fixed_ratio, mixes = b.variant, b.fixed_ratio, b.mixes_per_step
    element_weight, point_weight = b.element_weight, b.point_weight
    realised = b.target == "realised"
    simultaneous = config.schedule.simultaneous

    def real_data(batch):
        return to_model_space(batch[key], info)

    def generate(params, collections, rng, n, train):
        z = jax.random.normal(rng, (n, m.latent_dim))
        return apply_module(generator, params["generator"], collections["generator"], z,
                            train=train)

    def judge(params, d_colls, x):
        """(set scores, point scores or None, D's collections) of D in train mode."""
        out, d_colls = apply_module(discriminator, params["discriminator"], d_colls, x,
                                    train=True)
        return (*out, d_colls) if point_weight else (out, None, d_colls)

    def discriminator_loss(params, collections, batch, rng):
        fake_rng, mix_rng = jax.random.split(rng)
        real = real_data(batch)
        fake, _ = generate(params, collections, fake_rng, real.shape[0], train=True)
        fake = jax.lax.stop_gradient(fake)
        d_colls = collections["discriminator"]
        scores, point_scores, targets, ratios, masks = [], [], [], [], []
        for j in range(mixes):  # The same real and fake batches, a fresh mix each time.
            p_rng, mask_rng = jax.random.split(jax.random.fold_in(mix_rng, j))
            p = sample_ratio(p_rng, fixed_ratio)
            mixed, mask = mix_batches(mask_rng, real, fake, p)
            s, q, d_colls = judge(params, d_colls, mixed)
            scores.append(s)
            point_scores.append(q)
            targets.append(jnp.mean(mask.astype(jnp.float32)) if realised else p)
            ratios.append(p)
            masks.append(mask)
        scores, targets = jnp.stack(scores), jnp.stack(targets)
        loss = ratio_loss(scores, targets, variant)
        element = element_loss(scores, jnp.stack(masks))
        entropy = jnp.mean(binary_entropy(targets))
        real_scores = judge(params, d_colls, real)[0]
        pred = predicted_ratio(jax.lax.stop_gradient(scores), variant)
        metrics = {
            "bgan/element_bce": element,  # How well each score tells its own slot's kind.
            "bgan/target": jnp.mean(targets),
            "bgan/sampled_ratio": jnp.mean(jnp.stack(ratios)),
            "bgan/d_entropy": entropy,  # The irreducible part of L_D: H(t).
            "bgan/d_kl": loss - entropy,  # L_D - H(t) = E KL(Bern(t) || Bern(prediction)) >= 0.
            "bgan/pred_error": jnp.mean(jnp.abs(pred - targets)),
            "bgan/pred_real": predicted_ratio(jax.lax.stop_gradient(real_scores), variant),
        }
        if element_weight:
            loss = loss + element_weight * element
        if point_weight:  # Each point score judges its own slot, as a per-sample GAN's D.
            point = element_loss(jnp.stack(point_scores), jnp.stack(masks))
            metrics["bgan/point_bce"] = point
            loss = loss + point_weight * point
        return loss, (metrics, {"discriminator": d_colls})

    def generator_loss(params, collections, batch, rng):
        n = batch[key].shape[0]
        # Simultaneous updates share the step's rng: G draws the z of D's loss's fakes.
        z_rng = jax.random.split(rng)[0] if simultaneous else rng
        fake, g_colls = generate(params, collections, z_rng, n, train=True)
        # D runs in train mode but only its own step updates it (its collections are dropped).
        scores, point_scores, _ = judge(params, collections["discriminator"], fake)
        metrics = {"bgan/pred_fake": predicted_ratio(jax.lax.stop_gradient(scores), variant)}
        loss = g_loss(generator_logits(scores, variant))
        if point_weight:
            loss = loss + point_weight * g_loss(point_scores)
        return loss, (metrics, {"generator": g_colls})

    def init(rng, batch):
        g_rng, d_rng = jax.random.split(rng)
        z = jnp.zeros((2, m.latent_dim))
        return {"generator": generator.init(g_rng, z, train=False),
                "discriminator": discriminator.init(d_rng, real_data(batch)[:2], train=False)}

    def sample(variables, rng, n):
        z = jax.random.normal(rng, (n, m.latent_dim))
        return to_data_space(generator.apply(variables["generator"], z, train=False), info)

    return adversarial_method(
        "bgan", config, discriminator_loss, generator_loss, ema_decay=m.ema_decay or None,
        simultaneous=simultaneous, prepare_sampling=ema_sampling(generator, m), init=init,
        sample=sample, latent_dim=m.latent_dim,
        metrics=("modes",) if info.modes is not None else ())
