"""Flow models built from the bijectors: multi-scale Real NVP and Glow, and a shape-preserving
feature flow.

MultiScaleFlow.forward(z) -> (eps, logdet): eps is a tuple of arrays (one per factored-out
level, then the top), each standard normal under the model, so
  ln p(z) = sum_levels ln N(eps; 0, I) + logdet.
MultiScaleFlow.inverse(eps) -> (z, logdet of the inverse). Temperature sampling draws
eps ~ N(0, T^2 I) (T = 0: every eps at its mode 0, i.e. each factored-out half at its
conditional prior mean and the top at 0).

Architectures (a step is one coupling; actnorm=True adds an ActNorm after each coupling in Real
NVP, where the paper used batch normalisation):
  realnvp (Dinh et al. 2017, Sec. 3.6): per scale but the last, `steps` checkerboard couplings,
    squeeze, `steps` channel couplings, factor out half; the last scale has steps + 1
    checkerboard couplings. num_scales - 1 squeezes.
  glow (Kingma & Dhariwal 2018, Fig. 2): per level, squeeze, `steps` x (ActNorm, InvConv1x1,
    coupling), factor out half (not after the last level). num_scales squeezes.
"""

import math

import flax.linen as nn
import ml_collections
import jax.numpy as jnp

from genmodels.flows import bijectors as bj

KINDS = ("realnvp", "glow")
MASK_CHOICES = ("alternate",) + bj.MASKS


def _coupling(mask, parity, m) -> bj.Coupling:
    return bj.Coupling(mask=mask, parity=parity, kind=m["coupling"], hidden=m["hidden"],
                       net=m["net"], num_blocks=m["num_blocks"], scale_bound=m["scale_bound"])


def _realnvp_plan(m: dict, num_scales: int):
    """Ops of Real NVP: ("layer", module) | ("squeeze",) | ("split",)."""
    ops = []

    def couplings(preferred: str, count: int):
        for i in range(count):
            mask = preferred if m["mask"] == "alternate" else m["mask"]
            ops.append(("layer", _coupling(mask, i % 2, m)))
            if m["actnorm"]:
                ops.append(("layer", bj.ActNorm()))

    for scale in range(num_scales):
        if scale == num_scales - 1:
            couplings("checkerboard", m["steps"] + 1)
            break
        couplings("checkerboard", m["steps"])
        ops.append(("squeeze",))
        couplings("channel", m["steps"])
        ops += [("layer", bj.FactorOut()), ("split",)]
    return ops


def _glow_plan(m: dict, num_scales: int):
    ops, seed = [], 0
    for level in range(num_scales):
        ops.append(("squeeze",))
        for k in range(m["steps"]):
            mask = ("channel" if k % 2 == 0 else "checkerboard") if m["mask"] == "alternate" \
                else m["mask"]
            parity = 0 if mask == "channel" else (k // 2) % 2
            ops += [("layer", bj.ActNorm()), ("layer", bj.InvConv1x1(seed=seed)),
                    ("layer", _coupling(mask, parity, m))]
            seed += 1
        if level < num_scales - 1:
            ops += [("layer", bj.FactorOut()), ("split",)]
    return ops


class MultiScaleFlow(nn.Module):
    """Real NVP or Glow on [B, H, W, C] inputs (already dequantised and pre-processed).

    spec: a dict (hashable as a tuple of items) with kind, num_scales, steps, hidden, net,
    num_blocks, coupling, scale_bound, mask, actnorm (see configs/flow.py)."""

    spec: tuple

    def setup(self):
        m = dict(self.spec)
        plan = (_realnvp_plan if m["kind"] == "realnvp" else _glow_plan)(m, m["num_scales"])
        self.layers = [op[1] for op in plan if op[0] == "layer"]
        self.ops = tuple(op[0] for op in plan)

    def forward(self, x, layers: bool = True):
        """(eps levels, logdet); layers=False only squeezes and splits (the levels' layout)."""
        eps, logdet, i = [], jnp.zeros(x.shape[:1], x.dtype), 0
        for op in self.ops:
            if op == "squeeze":
                x = bj.squeeze(x)
            elif op == "split":
                k = x.shape[-1] // 2
                eps.append(x[..., k:])
                x = x[..., :k]
            else:
                if layers:
                    x, ld = self.layers[i].forward(x)
                    logdet = logdet + ld
                i += 1
        return tuple(eps) + (x,), logdet

    def inverse(self, eps, layers: bool = True):
        """(x, logdet of the inverse); layers=False only unsplits and unsqueezes."""
        x = eps[-1]
        logdet, i, j = jnp.zeros(x.shape[:1], x.dtype), len(self.layers), len(eps) - 1
        for op in reversed(self.ops):
            if op == "squeeze":
                x = bj.unsqueeze(x)
            elif op == "split":
                j -= 1
                x = jnp.concatenate([x, eps[j]], -1)
            else:
                i -= 1
                if layers:
                    x, ld = self.layers[i].inverse(x)
                    logdet = logdet + ld
        return x, logdet

    def __call__(self, x):
        return self.forward(x)


class FeatureFlow(nn.Module):
    """Shape-preserving flow f: [B, H, W, C] -> [B, H, W, C] (no factor-out), for models that put
    a density in feature space (e.g. the ADE hybrid). `squeezes` squeezes, then `depth` steps of
    (ActNorm, InvConv1x1, coupling), then as many unsqueezes.
    forward(x) -> (f, ln|det df/dx|); inverse(f) -> (x, ln|det dx/df|)."""

    depth: int
    hidden: int
    coupling: str = "affine"
    squeezes: int = 1
    mask: str = "channel"
    scale_bound: str = "sigmoid"
    net: str = "glow"
    num_blocks: int = 0

    def setup(self):
        steps = []
        for k in range(self.depth):
            mask = (("channel" if k % 2 == 0 else "checkerboard") if self.mask == "alternate"
                    else self.mask)
            steps += [bj.ActNorm(), bj.InvConv1x1(seed=k),
                      bj.Coupling(mask=mask, parity=k % 2, kind=self.coupling, hidden=self.hidden,
                                  net=self.net, num_blocks=self.num_blocks,
                                  scale_bound=self.scale_bound)]
        self.steps = steps

    def forward(self, x):
        logdet = jnp.zeros(x.shape[:1], x.dtype)
        for _ in range(self.squeezes):
            x = bj.squeeze(x)
        for layer in self.steps:
            x, ld = layer.forward(x)
            logdet = logdet + ld
        for _ in range(self.squeezes):
            x = bj.unsqueeze(x)
        return x, logdet

    def inverse(self, f):
        logdet = jnp.zeros(f.shape[:1], f.dtype)
        for _ in range(self.squeezes):
            f = bj.squeeze(f)
        for layer in reversed(self.steps):
            f, ld = layer.inverse(f)
            logdet = logdet + ld
        for _ in range(self.squeezes):
            f = bj.unsqueeze(f)
        return f, logdet

    def __call__(self, x):
        return self.forward(x)


class MultiScaleFeatureFlow(nn.Module):
    """A multi-scale flow (MultiScaleFlow) as a shape-preserving feature map: the factored-out
    levels eps are packed back into the input's shape by undoing the squeezes and splits, so
      f(x) = pack(eps(x)),  ln|det df/dx| = the flow's log-det
    (packing permutes coordinates: |det| = 1). A standard normal on f is then exactly the
    multi-scale flow's density; a model that puts its own density on f generalises it.
    forward(x) -> (f, ln|det df/dx|); inverse(f) -> (x, ln|det dx/df|)."""

    spec: tuple

    def setup(self):
        self.flow = MultiScaleFlow(self.spec)

    def _pack(self, eps):
        return self.flow.inverse(eps, layers=False)[0]

    def _unpack(self, f):
        return self.flow.forward(f, layers=False)[0]

    def forward(self, x):
        eps, logdet = self.flow.forward(x)
        return self._pack(eps), logdet

    def inverse(self, f):
        return self.flow.inverse(self._unpack(f))

    def __call__(self, x):
        return self.forward(x)


# --- Construction from config blocks, with errors naming the field. ---

def _check_int(value, minimum: int, field: str, hint: str = "") -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{field}={value!r} must be an integer >= {minimum}{hint}.")


def _check_divisible(image_shape, squeezes: int, field: str) -> None:
    h, w = image_shape[0], image_shape[1]
    if h % 2**squeezes or w % 2**squeezes:
        raise ValueError(f"image {h}x{w} is not divisible by 2^{squeezes} = {2**squeezes}, "
                         f"needed by {squeezes} squeezes ({field}); change {field} or "
                         "data.image_size.")


def _check_channels(channels: int, mask: str, field: str) -> None:
    if mask == "channel" and channels < 2:
        raise ValueError(f"{field}.mask='channel' needs >= 2 channels where it applies; the "
                         f"input has {channels} at full resolution: use 'checkerboard' or "
                         "'alternate'.")


def flow_spec(m, image_shape, field: str = "model") -> tuple:
    """Validates a flow config block (configs/flow.py model.*) and returns MultiScaleFlow.spec."""
    bj.check_choice(m.kind, KINDS, f"{field}.kind")
    bj.check_choice(m.coupling, bj.COUPLINGS, f"{field}.coupling")
    bj.check_choice(m.scale_bound, bj.SCALE_BOUNDS, f"{field}.scale_bound")
    bj.check_choice(m.mask, MASK_CHOICES, f"{field}.mask")
    bj.check_choice(m.net, bj.NETS, f"{field}.net")
    _check_int(m.num_scales, 1, f"{field}.num_scales")
    _check_int(m.steps, 1, f"{field}.steps")
    _check_int(m.hidden, 1, f"{field}.hidden")
    _check_int(m.num_blocks, 0, f"{field}.num_blocks")
    squeezes = m.num_scales - (1 if m.kind == "realnvp" else 0)
    _check_divisible(image_shape, squeezes, f"{field}.num_scales")
    if m.kind == "realnvp" and m.mask == "channel":
        _check_channels(image_shape[-1], m.mask, field)
    keys = ("kind", "num_scales", "steps", "hidden", "net", "num_blocks", "coupling",
            "scale_bound", "mask", "actnorm")
    return tuple((k, m[k]) for k in keys)


def make_flow(m, image_shape, field: str = "model") -> MultiScaleFlow:
    return MultiScaleFlow(flow_spec(m, image_shape, field))


def make_feature_flow(cfg, image_shape, field: str = "model.flow") -> nn.Module:
    """A shape-preserving flow from a config block with depth, hidden, coupling, squeezes, mask,
    scale_bound, net, num_blocks and num_scales (configs/hybrid.py's model.flow).

    num_scales = 0: FeatureFlow, `depth` steps after `squeezes` squeezes. num_scales = L >= 1:
    MultiScaleFeatureFlow of Glow's multi-scale plan (L levels of `depth` steps, each level
    squeezing, half factored out between levels), which makes `squeezes` meaningless (must be 0).
    """
    _check_int(cfg.depth, 1, f"{field}.depth")
    _check_int(cfg.num_scales, 0, f"{field}.num_scales")
    if cfg.num_scales:
        if cfg.squeezes:
            raise ValueError(f"{field}.squeezes={cfg.squeezes} with {field}.num_scales="
                             f"{cfg.num_scales}: the multi-scale flow squeezes once per level; "
                             f"set {field}.squeezes=0 (or {field}.num_scales=0 for the "
                             "single-scale flow).")
        spec = ml_collections.ConfigDict(dict(
            kind="glow", num_scales=cfg.num_scales, steps=cfg.depth, hidden=cfg.hidden,
            net=cfg.net, num_blocks=cfg.num_blocks, coupling=cfg.coupling,
            scale_bound=cfg.scale_bound, mask=cfg.mask, actnorm=True))
        return MultiScaleFeatureFlow(flow_spec(spec, image_shape, field))
    _check_int(cfg.hidden, 1, f"{field}.hidden")
    bj.check_choice(cfg.coupling, bj.COUPLINGS, f"{field}.coupling")
    squeezes, mask, scale_bound = cfg.squeezes, cfg.mask, cfg.scale_bound
    net, num_blocks = cfg.net, cfg.num_blocks
    _check_int(squeezes, 0, f"{field}.squeezes")
    _check_int(num_blocks, 0, f"{field}.num_blocks")
    bj.check_choice(mask, MASK_CHOICES, f"{field}.mask")
    bj.check_choice(scale_bound, bj.SCALE_BOUNDS, f"{field}.scale_bound")
    bj.check_choice(net, bj.NETS, f"{field}.net")
    _check_divisible(image_shape, squeezes, f"{field}.squeezes")
    _check_channels(image_shape[-1] * 4**squeezes, mask, field)
    return FeatureFlow(cfg.depth, cfg.hidden, cfg.coupling, squeezes, mask, scale_bound, net,
                       num_blocks)


def num_dims(image_shape) -> int:
    return math.prod(image_shape)
