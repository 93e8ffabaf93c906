"""Generative adversarial network (Goodfellow et al. 2014) with the DCGAN or MLP architecture.

Players: the discriminator minimises
  losses.discriminator(D(x), D(G(z))) + losses.penalty_weight * losses.penalty
and the generator minimises losses.generator(D(G(z))), alternating d_steps and g_steps updates
per train step (schedule.d_steps / schedule.g_steps). All three are chosen by name from
genmodels.losses. losses.weight_clip > 0 clips every discriminator weight to [-c, c] after each
update (WGAN); model.ema_decay > 0 keeps an EMA of the generator used for sampling.
"""

import jax
import jax.numpy as jnp

from genmodels import losses, models
from genmodels.data import to_signed, to_uint8
from genmodels.methods.base import Method, Player
from genmodels.nn import check_upsample_kind
from genmodels.train.optim import make_optimizer

ARCHITECTURES = ("dcgan", "mlp")


def apply_module(module, params, collections, *args, train: bool):
    """module.apply in train or eval mode; returns (output, updated mutable collections)."""
    variables = {"params": params, **collections}
    if train and collections:
        out, updates = module.apply(variables, *args, train=True, mutable=list(collections))
        return out, dict(updates)
    return module.apply(variables, *args, train=train), collections


def clip_weights(c: float):
    """Projection of every parameter onto [-c, c] (WGAN, Arjovsky et al. 2017, Algorithm 1)."""
    return lambda params: jax.tree.map(lambda w: jnp.clip(w, -c, c), params)


def build_networks(config, info):
    """(generator, discriminator) modules for the dataset; shape errors before compilation."""
    m = config.model
    if m.arch not in ARCHITECTURES:
        raise ValueError(f"Unknown GAN architecture {m.arch!r} (model.arch); valid: "
                         f"{', '.join(ARCHITECTURES)}.")
    if m.arch == "mlp":
        if info.kind != "points":
            raise ValueError(f"model.arch='mlp' is for 2-D point datasets (ring8, grid25); "
                             f"data.name={info.name!r} holds images: use model.arch='dcgan'.")
        return (models.MLPGenerator(info.shape[-1], tuple(m.g_hidden), m.use_batch_norm),
                models.MLPDiscriminator(tuple(m.d_hidden), m.maxout))
    if info.kind != "image":
        raise ValueError(f"model.arch='dcgan' needs images; data.name={info.name!r} holds "
                         "points: use model.arch='mlp'.")
    models.dcgan_num_upsamplings(info.shape)
    check_upsample_kind(m.upsample)
    return (models.DCGANGenerator(tuple(info.shape), m.base_features, m.upsample, m.use_batch_norm),
            models.DCGANDiscriminator(m.base_features, m.use_batch_norm))


def build(config, info) -> Method:
    m = config.model
    generator, discriminator = build_networks(config, info)
    d_loss = losses.get("discriminator", config.losses.discriminator, "losses.discriminator")
    g_loss = losses.get("generator", config.losses.generator, "losses.generator")
    penalty = losses.get("penalty", config.losses.penalty, "losses.penalty")
    penalty_weight = config.losses.penalty_weight
    data_key = "image" if info.kind == "image" else "x"

    def real_data(batch):
        x = batch[data_key]
        return to_signed(x) if data_key == "image" else x

    def generate(params, collections, rng, n, train):
        z = jax.random.normal(rng, (n, m.latent_dim))
        return apply_module(generator, params["generator"], collections["generator"], z,
                            train=train)

    def discriminator_loss(params, collections, batch, rng):
        fake_rng, penalty_rng = jax.random.split(rng)
        real = real_data(batch)
        fake, _ = generate(params, collections, fake_rng, real.shape[0], train=True)
        fake = jax.lax.stop_gradient(fake)
        d_params, d_colls = params["discriminator"], collections["discriminator"]
        real_logits, d_colls = apply_module(discriminator, d_params, d_colls, real, train=True)
        fake_logits, d_colls = apply_module(discriminator, d_params, d_colls, fake, train=True)

        def d_fn(x):  # Logits with the current params, collections left as they are.
            return apply_module(discriminator, d_params, d_colls, x, train=True)[0]

        reg = penalty(d_fn, real, fake, penalty_rng)
        loss = d_loss(real_logits, fake_logits) + penalty_weight * reg
        metrics = {"d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
                   "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)), "penalty": reg}
        return loss, (metrics, {"discriminator": d_colls})

    def generator_loss(params, collections, batch, rng):
        n = batch[data_key].shape[0]
        fake, g_colls = generate(params, collections, rng, n, train=True)
        # D runs in train mode (batch statistics of the fakes) but only its own step updates it.
        fake_logits, _ = apply_module(discriminator, params["discriminator"],
                                      collections["discriminator"], fake, train=True)
        return g_loss(fake_logits), ({}, {"generator": g_colls})

    def init(rng, batch):
        g_rng, d_rng = jax.random.split(rng)
        z = jnp.zeros((2, m.latent_dim))
        return {"generator": generator.init(g_rng, z, train=False),
                "discriminator": discriminator.init(d_rng, real_data(batch)[:2], train=False)}

    def sample(variables, rng, n):
        g = variables["generator"]
        z = jax.random.normal(rng, (n, m.latent_dim))
        x = generator.apply(g, z, train=False)
        return to_uint8(x) if data_key == "image" else x

    clip = config.losses.weight_clip
    if clip < 0:
        raise ValueError(f"losses.weight_clip={clip} must be >= 0 (0 disables clipping).")
    if not 0.0 <= m.ema_decay < 1.0:
        raise ValueError(f"model.ema_decay={m.ema_decay} must be in [0, 1) (0 disables the EMA).")
    return Method(
        name="gan",
        players=(Player("discriminator", discriminator_loss,
                        make_optimizer(config.optim.discriminator, "optim.discriminator"),
                        project=clip_weights(clip) if clip else None),
                 Player("generator", generator_loss,
                        make_optimizer(config.optim.generator, "optim.generator"),
                        ema_decay=m.ema_decay or None)),
        schedule=(("discriminator", config.schedule.d_steps),
                  ("generator", config.schedule.g_steps)),
        init=init, sample=sample, latent_dim=m.latent_dim,
        metrics=("modes",) if info.modes is not None else ())
