"""The adversarial toolkit that the GAN family's methods compose (gan, bgan, ali, hybrid, idgan):
the networks by architecture, the two-player Method, data <-> model space, and what the
discriminator may see (class conditioning, PacGAN packing, experience replay). The
discriminator's objective itself is genmodels.losses.adversarial."""

import jax
import jax.numpy as jnp

from genmodels import models
from genmodels.data import to_signed, to_uint8
from genmodels.methods.base import Method, Player
from genmodels.methods.optim import make_optimizer
from genmodels.nn import check_upsample_kind

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
                       ema_decay=None, simultaneous: bool = False, **fields) -> Method:
    """The two-player Method of the GAN family: a "discriminator" and a "generator" player with
    optimizers config.optim.discriminator / config.optim.generator, updated schedule.d_steps
    then schedule.g_steps times per train step, or, if `simultaneous` (schedule.simultaneous of
    the methods that read it), both once from the same params (Method.simultaneous): the losses
    must then draw the same z from the shared rng. `fields` are the Method's other fields."""
    if simultaneous and (config.schedule.d_steps, config.schedule.g_steps) != (1, 1):
        raise ValueError(f"schedule.simultaneous=True updates both players once per step from the "
                         f"same params; set schedule.d_steps=1 and schedule.g_steps=1 (got "
                         f"{config.schedule.d_steps} and {config.schedule.g_steps}).")
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
        simultaneous=simultaneous, **fields)


# z drawn to recompute the batch statistics of an EMA generator (`standing_batch_stats`), from
# a fixed key so that sampling variables are a function of the train state.
STANDING_STATS_SAMPLES = 10_000
STANDING_STATS_KEY = 0


def standing_batch_stats(generator, g_variables, z):
    """g_variables with every batch-norm running average replaced by the batch statistics of
    the generator's own activations on z (a train-mode pass with running-average momentum 0).

    For an EMA generator: the running averages kept in training track the live weights, not
    their average, so sampling the averaged weights with them normalises every hidden unit with
    another network's statistics. For generators with a bn_momentum field (MLPGenerator)."""
    _, updates = generator.clone(bn_momentum=0.0).apply(g_variables, z, train=True,
                                                        mutable=["batch_stats"])
    return {**g_variables, **updates}


EMA_BATCH_STATS = ("standing", "live")


def ema_sampling(generator, m, latent_inputs=lambda z: z):
    """Method.prepare_sampling for model.ema_decay > 0 with a batch-normed MLP generator and
    model.ema_batch_stats="standing": the averaged weights sample with their own batch
    statistics (`standing_batch_stats`, on STANDING_STATS_SAMPLES z). None otherwise: the
    running averages of training ("live": those of the live weights, the confound of issue 26's
    factor 5; without an EMA they are the weights' own). latent_inputs(z) -> the generator's
    input (e.g. z with class labels attached)."""
    if m.ema_batch_stats not in EMA_BATCH_STATS:
        raise ValueError(f"Unknown model.ema_batch_stats={m.ema_batch_stats!r}; valid: "
                         f"{', '.join(EMA_BATCH_STATS)}.")
    if not (m.ema_decay and m.arch == "mlp" and m.use_batch_norm) or m.ema_batch_stats == "live":
        return None

    @jax.jit
    def prepare_sampling(variables):
        z = jax.random.normal(jax.random.PRNGKey(STANDING_STATS_KEY),
                              (STANDING_STATS_SAMPLES, m.latent_dim))
        g_variables = standing_batch_stats(generator, variables["generator"], latent_inputs(z))
        return {**variables, "generator": g_variables}

    return prepare_sampling


def clip_weights(c: float):
    """Projection of every parameter onto [-c, c] (WGAN, Arjovsky et al. 2017, Algorithm 1)."""
    return lambda params: jax.tree.map(lambda w: jnp.clip(w, -c, c), params)


def _check_arch(m, info) -> None:
    if m.arch not in ARCHITECTURES:
        raise ValueError(f"Unknown GAN architecture {m.arch!r} (model.arch); valid: "
                         f"{', '.join(ARCHITECTURES)}.")
    if m.arch == "mlp" and info.kind != "points":
        raise ValueError(f"model.arch='mlp' is for 2-D point datasets (ring8, grid25); "
                         f"data.name={info.name!r} holds images: use model.arch='dcgan'.")
    if m.arch != "mlp" and info.kind != "image":
        raise ValueError(f"model.arch={m.arch!r} needs images; data.name={info.name!r} holds "
                         "points: use model.arch='mlp'.")
    if m.arch == "sngan":
        models.sngan_check_image_shape(info.shape)
    elif m.arch == "dcgan":
        models.dcgan_num_upsamplings(info.shape)
        check_upsample_kind(m.upsample)


def build_generator(config, info, num_classes: int | None = None):
    """The generator of model.arch for the dataset (class-conditional SNGAN generators take
    `num_classes`); shape errors before compilation."""
    m = config.model
    _check_arch(m, info)
    if m.arch == "mlp":
        return models.MLPGenerator(info.shape[-1], tuple(m.g_hidden), m.use_batch_norm,
                                   models.weight_init(m.init), m.bn_epsilon, m.bn_momentum)
    if m.arch == "sngan":
        return models.SNGANGenerator(tuple(info.shape), m.sngan_g_features, num_classes)
    return models.DCGANGenerator(tuple(info.shape), m.base_features, m.upsample, m.use_batch_norm)


def build_discriminator(config, info, num_classes: int | None = None):
    """The discriminator of model.arch (a projection discriminator for `num_classes`)."""
    m = config.model
    _check_arch(m, info)
    if m.arch == "mlp":
        return models.MLPDiscriminator(tuple(m.d_hidden), m.maxout, m.stddev_group,
                                       models.weight_init(m.init))
    if m.arch == "sngan":
        return models.SNGANDiscriminator(m.sngan_d_features, num_classes, m.spectral_norm,
                                         m.stddev_group or None)
    return models.DCGANDiscriminator(m.base_features, m.use_batch_norm)


def build_networks(config, info):
    """(generator, discriminator) of the gan method; model.conditional SNGANs condition inside
    the networks."""
    num_classes = info.num_classes if config.model.conditional else None
    return (build_generator(config, info, num_classes),
            build_discriminator(config, info, num_classes))


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
