"""The seam every method plugs into: players (params + optimizer + pure loss) and a schedule.

Shapes of the pytrees passed around (P = player name):
  params       {P: flax params}
  collections  {P: {collection name: pytree}}   mutable state such as batch_stats
  variables    {P: {"params": ..., **collections[P]}}   what `Module.apply` takes
  batch        {"image": uint8 [B, H, W, C] | "x": float32 [B, D], "label": ..., ...}

A loss is a pure function
  loss_fn(params, collections, batch, rng) -> (scalar, (metrics, updated_collections))
whose gradient is taken with respect to its own player's params only; `metrics` is a dict of
scalars (DESIGN.md §5 names) and `updated_collections` a dict {P: collections} of the mutable
state the loss updated (possibly empty).
"""

import dataclasses
from typing import Any, Callable, Optional

import jax
import optax

PyTree = Any
Batch = dict[str, jax.Array]
LossFn = Callable[[PyTree, PyTree, Batch, jax.Array], tuple[jax.Array, tuple[dict, dict]]]


@dataclasses.dataclass(frozen=True)
class Player:
    """A group of modules updated together by one optimizer from one loss.

    project: applied to the params after every update (e.g. WGAN weight clipping).
    ema_decay: if set, the state keeps an exponential moving average of the params,
      ema <- decay * ema + (1 - decay) * params once per train step (after the player's
      scheduled updates), and sampling and evaluation use it in place of the params
      (generator EMA, Yazici et al. 2019).
    """

    name: str
    loss_fn: LossFn
    optimizer: optax.GradientTransformation
    project: Optional[Callable[[PyTree], PyTree]] = None
    ema_decay: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class Method:
    """A generative model as the trainer, evaluator and `genmodels.load` see it.

    init(rng, batch) -> variables of every player.
    sample(variables, rng, n) -> n samples in data space (uint8 NHWC images or float32 points).
    eval_fn(variables, batch, rng) -> {metric: per-example values [B]} on a test batch.
    The optional latent tools work on uint8 images: encode -> posterior mean, decode(z) -> uint8,
    reconstruct(x) -> uint8, bpd(x) -> per-example bits/dim.
    prepare_sampling(variables) -> variables, run on the host before sampling (not jitted), for
    samplers fitted after training such as the RAE's ex-post density on the training codes;
    callers go through `sampling_variables`.
    simultaneous: every player of the schedule (each scheduled once) takes its gradient at the
    params and collections the train step started from, with one shared rng, and then all
    updates are applied (genmodels.train.step); False: the players update in schedule order.
    """

    name: str
    players: tuple[Player, ...]
    schedule: tuple[tuple[str, int], ...]
    init: Callable[[jax.Array, Batch], PyTree]
    sample: Callable[[PyTree, jax.Array, int], jax.Array]
    eval_fn: Optional[Callable[[PyTree, Batch, jax.Array], dict]] = None
    encode: Optional[Callable[[PyTree, jax.Array], jax.Array]] = None
    decode: Optional[Callable[[PyTree, jax.Array], jax.Array]] = None
    reconstruct: Optional[Callable[[PyTree, jax.Array, jax.Array], jax.Array]] = None
    bpd: Optional[Callable[[PyTree, jax.Array, jax.Array], jax.Array]] = None
    latent_dim: Optional[int] = None
    metrics: tuple[str, ...] = ()  # Metric families of genmodels.evaluation it supports.
    prepare_sampling: Optional[Callable[[PyTree], PyTree]] = None
    simultaneous: bool = False

    def __post_init__(self):
        names = [p.name for p in self.players]
        if len(set(names)) != len(names):
            raise ValueError(f"Method {self.name}: duplicate player names {names}.")
        for player, repeats in self.schedule:
            if player not in names:
                raise ValueError(f"Method {self.name}: schedule names unknown player {player!r}; "
                                 f"players are {names}.")
            if repeats < 1:
                raise ValueError(f"Method {self.name}: player {player!r} is scheduled {repeats} "
                                 "times per step; it must be at least 1.")
        scheduled = [player for player, _ in self.schedule]
        if self.simultaneous and (any(r != 1 for _, r in self.schedule)
                                  or len(set(scheduled)) != len(scheduled)):
            raise ValueError(f"Method {self.name}: simultaneous updates need every player "
                             f"scheduled once with 1 update; the schedule is {self.schedule}.")

    def player(self, name: str) -> Player:
        return next(p for p in self.players if p.name == name)


def variables_of(params: PyTree, collections: PyTree) -> PyTree:
    """{P: params}, {P: collections} -> {P: {"params": ..., **collections}}."""
    return {p: {"params": params[p], **collections.get(p, {})} for p in params}


def split_variables(variables: PyTree) -> tuple[PyTree, PyTree]:
    """Inverse of variables_of."""
    params = {p: v["params"] for p, v in variables.items()}
    collections = {p: {k: c for k, c in v.items() if k != "params"} for p, v in variables.items()}
    return params, collections


def sampling_variables(method: Method, variables: PyTree) -> PyTree:
    """The variables `method.sample` should use: `prepare_sampling` applied, if the method has it."""
    return method.prepare_sampling(variables) if method.prepare_sampling else variables
