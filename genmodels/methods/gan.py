"""Generative adversarial network (Goodfellow et al. 2014) with the DCGAN or MLP architecture.

Players: the discriminator minimises
  losses.discriminator(D(x), D(G(z))) + losses.penalty_weight * losses.penalty
and the generator minimises losses.generator(D(G(z))), alternating d_steps and g_steps updates
per train step (schedule.d_steps / schedule.g_steps). All three are chosen by name from
genmodels.losses. losses.weight_clip > 0 clips every discriminator weight to [-c, c] after each
update (WGAN); model.ema_decay > 0 keeps an EMA of the generator used for sampling.

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

from genmodels import losses, models
from genmodels.data import to_signed, to_uint8
from genmodels.methods.base import Method, Player
from genmodels.nn import check_upsample_kind
from genmodels.methods.optim import make_optimizer

ARCHITECTURES = ("dcgan", "sngan", "mlp")


def apply_module(module, params, collections, *args, train: bool, **kwargs):
    """module.apply in train or eval mode; returns (output, updated mutable collections)."""
    variables = {"params": params, **collections}
    if train and collections:
        out, updates = module.apply(variables, *args, train=True, mutable=list(collections),
                                    **kwargs)
        return out, dict(updates)
    return module.apply(variables, *args, train=train, **kwargs), collections


def data_key(info) -> str:
    """The batch key that holds the data: "image" (uint8 NHWC) or "x" (float32 points)."""
    return "image" if info.kind == "image" else "x"


def to_model_space(x, info):
    """Data as the networks see it: uint8 images to [-1, 1], points unchanged (DESIGN.md §3)."""
    return to_signed(x) if info.kind == "image" else x


def to_data_space(x, info):
    """Network outputs back in data space: images to uint8, points unchanged."""
    return to_uint8(x) if info.kind == "image" else x


def adversarial_method(name: str, config, discriminator_loss, generator_loss, *, project=None,
                       ema_decay=None, **fields) -> Method:
    """The two-player Method of the GAN family: a "discriminator" and a "generator" player with
    optimizers config.optim.discriminator / config.optim.generator, updated schedule.d_steps
    then schedule.g_steps times per train step. `fields` are the Method's other fields."""
    return Method(
        name=name,
        players=(Player("discriminator", discriminator_loss,
                        make_optimizer(config.optim.discriminator, "optim.discriminator"),
                        project=project),
                 Player("generator", generator_loss,
                        make_optimizer(config.optim.generator, "optim.generator"),
                        ema_decay=ema_decay)),
        schedule=(("discriminator", config.schedule.d_steps),
                  ("generator", config.schedule.g_steps)),
        **fields)


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
                models.MLPDiscriminator(tuple(m.d_hidden), m.maxout, m.stddev_group))
    if info.kind != "image":
        raise ValueError(f"model.arch={m.arch!r} needs images; data.name={info.name!r} holds "
                         "points: use model.arch='mlp'.")
    if m.arch == "sngan":
        models.sngan_check_image_shape(info.shape)
        num_classes = info.num_classes if m.conditional else None
        return (models.SNGANGenerator(tuple(info.shape), m.sngan_g_features, num_classes),
                models.SNGANDiscriminator(m.sngan_d_features, num_classes, m.spectral_norm,
                                          m.stddev_group or None))
    models.dcgan_num_upsamplings(info.shape)
    check_upsample_kind(m.upsample)
    return (models.DCGANGenerator(tuple(info.shape), m.base_features, m.upsample, m.use_batch_norm),
            models.DCGANDiscriminator(m.base_features, m.use_batch_norm))


def attach_labels(x, labels, num_classes: int):
    """Concatenates onehot(labels) to x [B, D], or as constant channels to images [B, H, W, C]."""
    onehot = jax.nn.one_hot(labels, num_classes, dtype=x.dtype)
    if x.ndim == 4:
        onehot = jnp.broadcast_to(onehot[:, None, None, :], x.shape[:3] + (num_classes,))
    return jnp.concatenate([x, onehot], axis=-1)


def pack(x, k: int):
    """PacGAN packing: [B, ..., C] -> [B / k, ..., k * C], groups of k consecutive examples."""
    if k == 1:
        return x
    grouped = x.reshape((x.shape[0] // k, k) + x.shape[1:])
    grouped = jnp.moveaxis(grouped, 1, -2)  # [B/k, ..., k, C]
    return grouped.reshape(grouped.shape[:-2] + (k * x.shape[-1],))


def init_replay(size: int, example_shape) -> dict:
    return {"buffer": jnp.zeros((size,) + tuple(example_shape)), "count": jnp.zeros((), jnp.int32)}


def replay(state: dict, fake, rng, fraction: float):
    """Mixes buffered past fakes into `fake` and pushes `fake` into the ring buffer.

    The first round(fraction * B) rows are replaced by uniformly drawn buffered fakes once the
    buffer holds any; returns (mixed fakes, new buffer state)."""
    size, n = state["buffer"].shape[0], fake.shape[0]
    num_replayed = int(round(fraction * n))
    filled = jnp.minimum(state["count"], size)
    picks = jax.random.randint(rng, (num_replayed,), 0, jnp.maximum(filled, 1))
    old = jnp.where(filled > 0, state["buffer"][picks], fake[:num_replayed])
    mixed = jnp.concatenate([old, fake[num_replayed:]], axis=0)
    slots = (state["count"] + jnp.arange(n)) % size
    buffer = state["buffer"].at[slots].set(fake)
    return mixed, {"buffer": buffer, "count": state["count"] + n}


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
        real_logits, d_colls = discriminate(d_params, d_colls, real, labels)
        fake_logits, d_colls = discriminate(d_params, d_colls, fake, labels)
        reg = penalty(lambda x: discriminate(d_params, d_colls, x, labels)[0], real, fake,
                      penalty_rng)
        loss = d_loss(real_logits, fake_logits) + penalty_weight * reg
        metrics = {"d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
                   "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)), "penalty": reg}
        return loss, (metrics, {"discriminator": d_colls})

    def generator_loss(params, collections, batch, rng):
        labels = batch.get("label")
        fake, g_colls = generate(params["generator"], collections["generator"], rng, labels,
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

    clip = config.losses.weight_clip
    return adversarial_method(
        "gan", config, discriminator_loss, generator_loss,
        project=clip_weights(clip) if clip else None, ema_decay=m.ema_decay or None,
        init=init, sample=sample, latent_dim=m.latent_dim,
        metrics=("modes",) if info.modes is not None else ())
