"""Generative adversarial network (Goodfellow et al. 2014) with the DCGAN or MLP architecture.

Players: the discriminator minimises
  losses.discriminator(D(x), D(G(z))) + losses.penalty_weight * losses.penalty
and the generator minimises losses.generator(D(G(z))), alternating d_steps and g_steps updates
per train step (schedule.d_steps / schedule.g_steps). All three are chosen by name from
genmodels.losses. losses.weight_clip > 0 clips every discriminator weight to [-c, c] after each
update (WGAN); model.ema_decay > 0 keeps an EMA of the generator used for sampling (an MLP
generator's batch statistics are then recomputed for the averaged weights). With
schedule.simultaneous both players take their gradients at the same params, batch and z, and
update together (docs/adversarial.md). model.init, model.bn_epsilon, model.bn_momentum: the MLP
nets' weight initialisation and the MLP generator's batch-norm constants.

Options on what the discriminator sees (all compose):
  model.conditional   class-conditional GAN (Mirza & Osindero 2014): G gets [z, onehot(y)], D
                      gets onehot(y) concatenated to x (as constant channels for images).
  model.pack = k      PacGAN-k (Lin et al. 2018): D judges k samples at once, concatenated along
                      the last axis, all real or all fake.
  model.replay_size   experience replay: a ring buffer of past fakes; each D step replaces a
                      model.replay_fraction share of the current fakes by buffered ones.
"""

import jax
import jax.numpy as jnp

from genmodels import losses
from genmodels.losses.adversarial import discriminator_objective
from genmodels.methods.adversarial import (adversarial_method, apply_module, attach_labels,
                                           build_networks, clip_weights, data_key, ema_sampling,
                                           init_replay, pack, replay, to_data_space,
                                           to_model_space)
from genmodels.methods.base import Method

# The config fields this method reads beyond the ones every config has (genmodels.config):
# methods.build refuses any other field, so a setting is never silently ignored.
CONFIG_FIELDS = ("model.arch", "model.base_features", "model.conditional", "model.d_hidden",
                 "model.ema_decay", "model.ema_batch_stats", "model.g_hidden",
                 "model.latent_dim", "model.maxout",
                 "model.pack", "model.replay_fraction", "model.replay_size",
                 "model.sngan_d_features", "model.sngan_g_features", "model.spectral_norm",
                 "model.stddev_group", "model.upsample", "model.use_batch_norm",
                 "model.init", "model.bn_epsilon", "model.bn_momentum",
                 "losses.discriminator", "losses.generator", "losses.penalty",
                 "losses.penalty_weight", "losses.weight_clip", "schedule.d_steps",
                 "schedule.g_steps", "schedule.simultaneous", "optim.generator",
                 "optim.discriminator")


def check_options(config, info) -> None:
    m = config.model
    if m.conditional and not info.num_classes:
        raise ValueError(f"model.conditional=True needs class labels; data.name={info.name!r} has "
                         "none.")
    if m.pack < 1 or config.data.batch_size % m.pack:
        raise ValueError(f"model.pack={m.pack} must be >= 1 and divide data.batch_size="
                         f"{config.data.batch_size}.")
    if m.conditional and m.arch == "sngan" and m.pack > 1:
        raise ValueError("model.pack > 1 cannot be combined with the projection discriminator of "
                         "a conditional SNGAN (model.conditional=True, model.arch='sngan').")
    if m.replay_size and m.conditional and m.arch == "sngan":
        raise ValueError("model.replay_size > 0 needs the labels in the replayed inputs; a "
                         "conditional SNGAN takes labels in the network: use model.arch='dcgan'.")
    if m.replay_size < 0 or not 0.0 <= m.replay_fraction <= 1.0:
        raise ValueError(f"model.replay_size={m.replay_size} must be >= 0 and "
                         f"model.replay_fraction={m.replay_fraction} in [0, 1].")
    if config.losses.weight_clip < 0:
        raise ValueError(f"losses.weight_clip={config.losses.weight_clip} must be >= 0 "
                         "(0 disables clipping).")
    if not 0.0 <= m.ema_decay < 1.0:
        raise ValueError(f"model.ema_decay={m.ema_decay} must be in [0, 1) (0 disables the EMA).")


def build(config, info) -> Method:
    m = config.model
    check_options(config, info)
    generator, discriminator = build_networks(config, info)
    d_loss = losses.get("discriminator", config.losses.discriminator, "losses.discriminator")
    g_loss = losses.get("generator", config.losses.generator, "losses.generator")
    penalty = losses.get("penalty", config.losses.penalty, "losses.penalty")
    penalty_weight = config.losses.penalty_weight
    key = data_key(info)
    simultaneous = config.schedule.simultaneous
    num_classes = info.num_classes if m.conditional else 0
    # SNGAN conditions inside the networks (conditional BN, projection D); the others on inputs.
    labels_to_modules = bool(num_classes) and m.arch == "sngan"

    def real_data(batch):
        return to_model_space(batch[key], info)

    def conditioned(x, labels):
        return attach_labels(x, labels, num_classes) if num_classes and not labels_to_modules else x

    def module_labels(labels):
        return {"labels": labels} if labels_to_modules else {}

    def generate(g_params, g_colls, rng, labels, n, train):
        z = conditioned(jax.random.normal(rng, (n, m.latent_dim)), labels)
        return apply_module(generator, g_params, g_colls, z, train=train, **module_labels(labels))

    def discriminate(d_params, d_colls, x, labels, train=True):
        """Logits of packed, conditioned inputs; d_colls may hold the replay buffer."""
        module_colls = {k: v for k, v in d_colls.items() if k != "replay"}
        logits, module_colls = apply_module(discriminator, d_params, module_colls, pack(x, m.pack),
                                            train=train, **module_labels(labels))
        return logits, {**d_colls, **module_colls}

    def discriminator_loss(params, collections, batch, rng):
        fake_rng, replay_rng, penalty_rng = jax.random.split(rng, 3)
        labels = batch.get("label")
        real = conditioned(real_data(batch), labels)
        fake, _ = generate(params["generator"], collections["generator"], fake_rng, labels,
                           real.shape[0], train=True)
        fake = conditioned(jax.lax.stop_gradient(fake), labels)
        d_params, d_colls = params["discriminator"], collections["discriminator"]
        if m.replay_size:
            fake, replay_state = replay(d_colls["replay"], fake, replay_rng, m.replay_fraction)
            d_colls = {**d_colls, "replay": replay_state}
        loss, metrics, d_colls = discriminator_objective(
            lambda x, colls: discriminate(d_params, colls, x, labels), real, fake, d_colls,
            penalty_rng, loss=d_loss, penalty=penalty, penalty_weight=penalty_weight)
        return loss, (metrics, {"discriminator": d_colls})

    def generator_loss(params, collections, batch, rng):
        labels = batch.get("label")
        # Simultaneous updates share the step's rng: G draws the z of D's loss's fakes.
        z_rng = jax.random.split(rng, 3)[0] if simultaneous else rng
        fake, g_colls = generate(params["generator"], collections["generator"], z_rng, labels,
                                 batch[key].shape[0], train=True)
        # D runs in train mode (batch statistics of the fakes) but only its own step updates it.
        fake_logits, _ = discriminate(params["discriminator"], collections["discriminator"],
                                      conditioned(fake, labels), labels)
        return g_loss(fake_logits), ({}, {"generator": g_colls})

    def init(rng, batch):
        g_rng, d_rng = jax.random.split(rng)
        n = 2 * m.pack
        labels = jnp.zeros((n,), jnp.int32)
        d_input = conditioned(real_data(batch)[:1].repeat(n, axis=0), labels)
        d_vars = dict(discriminator.init(d_rng, pack(d_input, m.pack), train=False,
                                         **module_labels(labels[:2])))
        if m.replay_size:
            d_vars["replay"] = init_replay(m.replay_size, d_input.shape[1:])
        z = conditioned(jnp.zeros((n, m.latent_dim)), labels)
        return {"generator": generator.init(g_rng, z, train=False, **module_labels(labels)),
                "discriminator": d_vars}

    def sample(variables, rng, n):
        """n samples; conditional models cycle the classes in blocks (a grid row per class)."""
        labels = (jnp.arange(n) * max(num_classes, 1)) // n
        x, _ = generate(variables["generator"]["params"],
                        {k: v for k, v in variables["generator"].items() if k != "params"},
                        rng, labels, n, train=False)
        return to_data_space(x, info)

    def latent_inputs(z):
        return conditioned(z, (jnp.arange(z.shape[0]) * max(num_classes, 1)) // z.shape[0])

    clip = config.losses.weight_clip
    return adversarial_method(
        "gan", config, discriminator_loss, generator_loss,
        project=clip_weights(clip) if clip else None, ema_decay=m.ema_decay or None,
        simultaneous=simultaneous, prepare_sampling=ema_sampling(generator, m, latent_inputs),
        init=init, sample=sample, latent_dim=m.latent_dim,
        metrics=("modes",) if info.modes is not None else ())
