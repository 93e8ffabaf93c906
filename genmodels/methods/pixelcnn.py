"""PixelCNN++ (Salimans et al. 2017): exact likelihood by the autoregressive factorisation.

  ln p(x) = sum_i ln p(x_i | x_<i),   loss = mean over the batch of -ln p(x) / (D ln 2)

p(x_i | x_<i) is a discretised logistic mixture over the 256 levels, joint over the channels
of pixel i (channel-autoregressive means), or with model.likelihood="categorical" a 256-way
softmax per channel; either is a pmf, so bits/dim need no dequantisation offset. Sampling is
ancestral, one network pass per pixel inside a jitted `lax.fori_loop` (over the top rows only,
`models.pixelcnn.sample`).
"""

import math

import jax.numpy as jnp

from genmodels.data import to_signed
from genmodels.methods.base import Method, Player
from genmodels.models import pixelcnn as pcnn
from genmodels.methods.optim import make_optimizer


# The config fields this method reads beyond the ones every config has (genmodels.config):
# methods.build refuses any other field, so a setting is never silently ignored.
CONFIG_FIELDS = ("model.blocks_per_stage", "model.dropout", "model.ema_decay", "model.features",
                 "model.likelihood", "model.num_mixtures", "model.num_stages", "optim")


def check_network_config(m, image_shape, prefix: str = "model") -> None:
    """ValueErrors naming the field for the PixelCNN++ fields of config block `m`."""
    pcnn.check_likelihood(likelihood(m), f"{prefix}.likelihood")
    for name in ("features", "blocks_per_stage", "num_mixtures"):
        value = m[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{prefix}.{name}={value!r} must be an integer >= 1.")
    pcnn.check_stages(image_shape, m.num_stages, f"{prefix}.num_stages")
    if not 0.0 <= m.dropout < 1.0:
        raise ValueError(f"{prefix}.dropout={m.dropout!r} must be in [0, 1).")
    if not 0.0 <= m.ema_decay < 1.0:
        raise ValueError(f"{prefix}.ema_decay={m.ema_decay!r} must be in [0, 1) (0 disables).")


def make_network(m) -> pcnn.PixelCNNPP:
    return pcnn.PixelCNNPP(m.features, m.blocks_per_stage, m.num_stages, m.num_mixtures,
                           m.dropout, likelihood(m))


def likelihood(m) -> str:
    """The pixel likelihood of config block `m` (configs written before the field: mixture)."""
    return m.likelihood


def build(config, info) -> Method:
    if info.kind != "image":
        raise ValueError(f"The pixelcnn method needs an image dataset; data.name={info.name!r} "
                         f"is {info.kind}.")
    m = config.model
    check_network_config(m, info.shape)
    net = make_network(m)
    shape = tuple(info.shape)
    d = math.prod(shape)

    def log_prob(variables, x_uint8, rng=None):
        """ln p(x) per image [B]; dropout is active iff `rng` is given (training)."""
        train = rng is not None
        out = net.apply(variables, to_signed(x_uint8), train=train,
                        rngs={"dropout": rng} if train else None)
        return pcnn.log_prob(out, x_uint8, m.num_mixtures, likelihood(m))

    def loss_fn(params, collections, batch, rng):
        bpd = -log_prob({"params": params["pixelcnn"]}, batch["image"], rng) / (d * math.log(2))
        loss = jnp.mean(bpd)
        return loss, ({"bpd": loss}, {})

    def init(rng, batch):
        return {"pixelcnn": net.init(rng, to_signed(batch["image"][:1]))}

    def bpd(variables, x_uint8, rng=None):
        return pcnn.bits_per_dim(log_prob(variables["pixelcnn"], x_uint8), shape)

    def eval_fn(variables, batch, rng):
        return {"bpd": bpd(variables, batch["image"])}

    def sample(variables, rng, n):
        return pcnn.sample(lambda x, cond: net.apply(variables["pixelcnn"], x, cond), rng, n,
                           shape, m.num_mixtures,
                           row_multiple=pcnn.downsampling_factor(m.num_stages),
                           likelihood=likelihood(m))

    ema = m.ema_decay or None
    return Method(
        name="pixelcnn",
        players=(Player("pixelcnn", loss_fn, make_optimizer(config.optim, "optim"),
                        ema_decay=ema),),
        schedule=(("pixelcnn", 1),),
        init=init, sample=sample, eval_fn=eval_fn, bpd=bpd, metrics=("bpd",))
