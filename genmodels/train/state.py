"""The train state: every player's params, mutable collections and optimizer state."""

import flax.struct
import jax
import jax.numpy as jnp

from genmodels.methods.base import Method, PyTree, split_variables
from genmodels.methods.base import inference_variables as _inference_variables


class TrainState(flax.struct.PyTreeNode):
    step: jax.Array  # Number of completed train steps; also the data position.
    rng: jax.Array  # Base key of training randomness: step s uses fold_in(rng, s).
    params: PyTree
    collections: PyTree
    opt_state: PyTree
    ema_params: PyTree  # {P: params} for the players with an ema_decay; {} otherwise.


def init_train_state(method: Method, seed_key: jax.Array, batch) -> TrainState:
    """Initialises every player from `batch` (shapes; data-dependent inits may use values)."""
    init_rng, train_rng = jax.random.split(seed_key)
    params, collections = split_variables(method.init(init_rng, batch))
    opt_state = {p.name: p.optimizer.init(params[p.name]) for p in method.players}
    ema_params = {p.name: params[p.name] for p in method.players if p.ema_decay}
    return TrainState(step=jnp.zeros((), jnp.int32), rng=train_rng, params=params,
                      collections=collections, opt_state=opt_state, ema_params=ema_params)


def inference_variables(state: TrainState) -> PyTree:
    """What sampling and evaluation use: every player's variables, EMA params where kept."""
    return _inference_variables(state.params, state.collections, state.ema_params)
