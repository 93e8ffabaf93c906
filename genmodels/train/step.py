"""One generic train step: runs a method's schedule of players, each updating its own params."""

import jax
import jax.numpy as jnp
import optax

from genmodels.methods.base import Method
from genmodels.train.precision import mixed_precision
from genmodels.train.state import TrainState


def _merge(collections: dict, updates: dict) -> dict:
    return {p: {**c, **updates.get(p, {})} for p, c in collections.items()}


def ema_decay_at(decay: float, step: jax.Array) -> jax.Array:
    """The EMA decay used after `step` completed train steps: min(decay, (1 + t) / (10 + t)).

    theta_ema <- d_t theta_ema + (1 - d_t) theta. The warm-up (TensorFlow's
    ExponentialMovingAverage with num_updates) keeps the random initialisation from lingering:
    with a constant d = 0.999 it would still weigh 0.999^1000 = 37% after 1,000 steps."""
    t = step.astype(jnp.float32)
    return jnp.minimum(decay, (1.0 + t) / (10.0 + t))


def make_train_step(method: Method, compute_dtype: str = "float32"):
    """Returns train_step(state, batch) -> (state, metrics), to be jitted by the caller.

    For each (player, repeats) of the schedule, the player takes `repeats` optimizer steps on
    its own loss (an unrolled lax.scan when repeats > 1), each with randomness
    fold_in(fold_in(rng, step), k) where k counts updates within the step. Metrics of repeated
    updates are averaged. Each player adds loss/<P>, grad_norm/<P> and param_norm/<P> (DESIGN.md
    §5). A player's `project` follows each of its updates; its EMA (if any) is updated once per
    train step, with the warm-up of `ema_decay_at`. `train_step.metric_owners` maps each metric
    to the player that reports it (filled on trace).
    With `method.simultaneous`, every player instead takes its gradient at the params and
    collections the step started from, all with the randomness fold_in(fold_in(rng, step), 0),
    and the updates are applied together (each player's own collections are kept).
    `compute_dtype` ("float32" or "bfloat16", config train.compute_dtype) is the dtype of the
    losses' matmuls and convolutions (genmodels.train.precision); params, optimizer state and
    updates stay float32.
    """
    metric_owners: dict[str, str] = {}
    loss_fns = {p.name: mixed_precision(p.loss_fn, compute_dtype) for p in method.players}

    def record_owner(name: str, player: str):
        owner = metric_owners.setdefault(name, player)
        if owner != player:
            raise ValueError(f"Method {method.name}: players {owner!r} and {player!r} both report "
                             f"metric {name!r}; give one of them another name.")

    def player_update(name, params, own_params, own_opt, colls, batch, rng):
        """One optimizer step of player `name` on its loss at {**params, name: own_params}:
        (own params, own optimizer state, collections the loss updated, metrics)."""
        player, loss_fn = method.player(name), loss_fns[name]

        def own_loss(p):
            return loss_fn({**params, name: p}, colls, batch, rng)

        (loss, (terms, new_colls)), grads = jax.value_and_grad(own_loss, has_aux=True)(own_params)
        updates, own_opt = player.optimizer.update(grads, own_opt, own_params)
        own_params = optax.apply_updates(own_params, updates)
        if player.project is not None:
            own_params = player.project(own_params)
        terms = {**terms, f"loss/{name}": loss, f"grad_norm/{name}": optax.tree.norm(grads)}
        return own_params, own_opt, new_colls, terms

    def train_step(state: TrainState, batch):
        step_rng = jax.random.fold_in(state.rng, state.step)
        params, collections, opt_state = dict(state.params), state.collections, dict(state.opt_state)
        ema_params = dict(state.ema_params)
        metrics = {}
        if method.simultaneous:
            start_params, start_colls = dict(params), collections
            rng = jax.random.fold_in(step_rng, 0)
            all_terms = {}
            for name, _ in method.schedule:
                params[name], opt_state[name], new_colls, all_terms[name] = player_update(
                    name, start_params, start_params[name], opt_state[name], start_colls, batch,
                    rng)
                collections = _merge(collections, {name: new_colls.get(name, {})})
        update_index = 0
        for name, repeats in method.schedule:
            player = method.player(name)

            def update(carry, k, name=name):
                own_params, own_opt, colls = carry
                own_params, own_opt, new_colls, terms = player_update(
                    name, params, own_params, own_opt, colls, batch,
                    jax.random.fold_in(step_rng, k))
                return (own_params, own_opt, _merge(colls, new_colls)), terms

            if method.simultaneous:
                terms = all_terms[name]
            elif repeats == 1:
                carry, terms = update((params[name], opt_state[name], collections), update_index)
                params[name], opt_state[name], collections = carry
            else:
                # Unrolled: on XLA:CPU a convolution's weight gradient inside a loop body runs
                # ~100x slower than outside one (docs/benchmarks.md), e.g. SNGAN's 5 D steps.
                carry, terms = jax.lax.scan(update, (params[name], opt_state[name], collections),
                                            update_index + jnp.arange(repeats), unroll=True)
                terms = jax.tree.map(lambda t: jnp.mean(t, axis=0), terms)
                params[name], opt_state[name], collections = carry
            update_index += repeats
            if player.ema_decay:
                decay = ema_decay_at(player.ema_decay, state.step)
                ema_params[name] = optax.incremental_update(params[name], ema_params[name],
                                                            1.0 - decay)
            terms[f"param_norm/{name}"] = optax.tree.norm(params[name])
            for key in terms:
                record_owner(key, name)
            metrics.update(terms)
        new_state = state.replace(step=state.step + 1, params=params, collections=collections,
                                  opt_state=opt_state, ema_params=ema_params)
        return new_state, metrics

    train_step.metric_owners = metric_owners
    return train_step


def make_multi_step(step_fn, steps_per_call: int):
    """multi_step(state, batches) -> (state, metrics): `steps_per_call` train steps in one call,
    a lax.scan over batches stacked on a leading axis [k, B, ...]; metrics are stacked [k].

    On XLA:CPU, convolution weight gradients inside the scan run ~100x slower than outside it,
    so k > 1 is for MLPs (the 2-D mixtures) and accelerators (docs/benchmarks.md)."""
    if steps_per_call == 1:
        def one_step(state, batches):
            state, metrics = step_fn(state, jax.tree.map(lambda b: b[0], batches))
            return state, jax.tree.map(lambda m: m[None], metrics)
        return one_step
    return lambda state, batches: jax.lax.scan(step_fn, state, batches)
