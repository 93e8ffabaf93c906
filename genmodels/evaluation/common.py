"""Device helpers the families share: masked per-batch sums over an eval split, jitted
sampling."""

import jax
import jax.numpy as jnp

from genmodels import data, parallel
from genmodels.methods.base import Method


def jit_batch_sums(fn, mesh):
    """fn(variables, batch, rng) -> (per-example dict, [B]) as a jitted (variables, batch, rng)
    -> ({name: masked sum}, number of real rows), the batch sharded on `data`."""

    def sums(variables, batch, rng):
        values = fn(variables, batch, rng)
        mask = batch["mask"].astype(jnp.float32)
        return {k: jnp.sum(v * mask) for k, v in values.items()}, jnp.sum(mask)

    repl = parallel.replicated(mesh)
    return jax.jit(sums, in_shardings=(repl, parallel.data_sharding(mesh), repl),
                   out_shardings=repl)


def accumulate(sums_fn, variables, rng, split: str, config, mesh) -> tuple[dict, float]:
    """(totals, count) of a jit_batch_sums function over eval.num_examples of `split`."""
    sharding = parallel.data_sharding(mesh)
    totals, count = None, 0.0
    batches = data.eval_batches(config.data, split, batch_size=config.eval.batch_size,
                                max_examples=config.eval.num_examples)
    for i, local in enumerate(batches):
        sums, n = sums_fn(variables, parallel.global_batch(local, sharding),
                          jax.random.fold_in(rng, i))
        sums, n = parallel.to_host((sums, n))
        totals = sums if totals is None else {k: totals[k] + sums[k] for k in sums}
        count += float(n)
    return totals, count


def jit_sample(method: Method, sharding):
    """method.sample(variables, rng, n) jitted with n static and the samples laid out on
    `sharding`."""
    return jax.jit(method.sample, static_argnums=2, out_shardings=sharding)
