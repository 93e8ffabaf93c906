"""Normalizing flows (Real NVP, Dinh et al. 2017; Glow, Kingma & Dhariwal 2018) by maximum
likelihood.

The flow sees y = (k + u) / L (uniform dequantisation of the level index k of x on the data's
L levels, L = 256 for photographs: y = (x + u) / 256) pre-processed by z = g(y) (logit or affine,
model.preprocess); with the flow's latents eps = f(z) standard normal,
  ln p(y) = ln N(eps; 0, I) + ln|det df/dz| + ln|det dg/dy|,
  bpd     = (-ln p(y) + D ln L) / (D ln 2),
and the loss is the batch mean of bpd (negative log-likelihood in bits/dim). Samples:
eps ~ N(0, T^2 I), T = model.temperature, x = level floor(L g^-1(f^-1(eps))).

L is model.num_levels, 0 for the dataset's own (DatasetInfo.num_levels: 17 for digits, 2 for
dsprites, 256 otherwise). With L < 256 the flow defines a discrete model on the 256 values that
puts all its mass on the L levels, so its bpd is on the 256-level scale of every other model; an
image off that grid has probability 0 (bpd inf), and a batch of them fails at init.
"""

import math

import jax
import jax.numpy as jnp

from genmodels import data, flows
from genmodels.methods.base import Method, Player
from genmodels.methods.optim import make_optimizer



# The config fields this method reads beyond the ones every config has (genmodels.config):
# methods.build refuses any other field, so a setting is never silently ignored.
CONFIG_FIELDS = ("model.actnorm", "model.coupling", "model.hidden", "model.kind", "model.logit_alpha",
                 "model.mask", "model.net", "model.num_blocks", "model.num_levels",
                 "model.num_scales", "model.preprocess", "model.scale_bound", "model.steps",
                 "model.temperature", "losses.flow", "optim")


def num_levels_field(m) -> int:
    """model.num_levels as configured (0: the dataset's own levels)."""
    return m.num_levels


def check_config(config, info):
    if info.kind != "image":
        raise ValueError(f"The flow method needs an image dataset; data.name={info.name!r} "
                         f"holds {info.kind}.")
    m = config.model
    flows.check_preprocess(m.preprocess, m.logit_alpha, "model")
    if not m.temperature >= 0:
        raise ValueError(f"model.temperature={m.temperature!r} must be >= 0 (1 samples the "
                         "model, 0 its mode).")
    levels = num_levels_field(m)
    if not isinstance(levels, int) or isinstance(levels, bool) or not (
            levels == 0 or 2 <= levels <= 256):
        raise ValueError(f"model.num_levels={levels!r} must be 0 (the dataset's, "
                         f"{info.num_levels} for data.name={info.name!r}) or in 2..256.")
    if config.losses.flow != "nll_bits":
        raise ValueError(f"Unknown losses.flow={config.losses.flow!r}; valid: nll_bits.")


def build(config, info) -> Method:
    check_config(config, info)
    m = config.model
    flow = flows.make_flow(m, tuple(info.shape), "model")
    d = math.prod(info.shape)
    levels = num_levels_field(m) or info.num_levels

    def preprocess(y):
        return flows.preprocess_forward(m.preprocess, y, m.logit_alpha)

    def log_density(variables, y):
        """ln p(y) per example, y the dequantised image in [0, 1)^D."""
        z, ld_pre = preprocess(y)
        eps, ld_flow = flow.apply(variables, z, method="forward")
        return flows.standard_normal_log_prob(eps) + ld_flow + ld_pre

    def bpd(variables, x_uint8, rng):
        y = flows.dequantize(rng, x_uint8, levels)
        bits = flows.bits_per_dim(log_density(variables["flow"], y), d, levels)
        return jnp.where(data.on_level_grid(x_uint8, levels), bits, jnp.inf)

    def loss_fn(params, collections, batch, rng):
        bits = bpd({"flow": {"params": params["flow"]}}, batch["image"], rng)
        return jnp.mean(bits), ({"bpd": jnp.mean(bits)}, {})

    def init(rng, batch):
        """ActNorm's data-dependent init sees the real (dequantised, pre-processed) batch."""
        init_rng, deq_rng = jax.random.split(rng)
        x = batch["image"]
        if not isinstance(x, jax.core.Tracer) and not bool(jnp.all(
                data.on_level_grid(x, levels))):
            raise ValueError(
                f"data.name={info.name!r} has pixel values off the {levels}-level grid that the "
                f"flow models (model.num_levels={num_levels_field(m)}); set "
                "model.num_levels=256.")
        z, _ = preprocess(flows.dequantize(deq_rng, x, levels))
        return {"flow": flow.init(init_rng, z, method="forward")}

    def sample(variables, rng, n):
        shapes = jax.eval_shape(lambda: flow.apply(
            variables["flow"], jnp.zeros((n, *info.shape)), method="forward")[0])
        keys = jax.random.split(rng, len(shapes))
        eps = tuple(m.temperature * jax.random.normal(k, s.shape) for k, s in zip(keys, shapes))
        z, _ = flow.apply(variables["flow"], eps, method="inverse")
        y, _ = flows.preprocess_inverse(m.preprocess, z, m.logit_alpha)
        return flows.to_uint8_levels(y, levels)

    def eval_fn(variables, batch, rng):
        return {"bpd": bpd(variables, batch["image"], rng)}

    return Method(
        name="flow",
        players=(Player("flow", loss_fn, make_optimizer(config.optim, "optim")),),
        schedule=(("flow", 1),),
        init=init, sample=sample, eval_fn=eval_fn, bpd=bpd, metrics=("bpd",))
