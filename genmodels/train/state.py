"""The train state: every player's params, mutable collections and optimizer state."""

import functools

import flax.struct
import jax
import jax.numpy as jnp

from genmodels.methods.base import Method, PyTree, split_variables, variables_of


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
    return variables_of({**state.params, **state.ema_params}, state.collections)


def abstract_train_state(method: Method, batch, sharding) -> TrainState:
    """Shapes, dtypes and `sharding` of the train state, computing nothing: the target that a
    checkpoint is restored onto."""
    shapes = jax.eval_shape(functools.partial(init_train_state, method), jax.random.PRNGKey(0),
                            batch)
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                        shapes)


def example_batch(info, n: int) -> dict:
    """A batch of zeros with the dataset's keys, shapes and dtypes (for shape-only uses)."""
    if info.kind == "image":
        batch = {"image": jnp.zeros((n, *info.shape), jnp.uint8)}
    else:
        batch = {"x": jnp.zeros((n, *info.shape), jnp.float32)}
    if info.num_classes:
        batch["label"] = jnp.zeros((n,), jnp.int32)
    return batch
