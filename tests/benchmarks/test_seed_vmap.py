"""benchmarks.seed_vmap (common.seeds_program): the vmapped program trains each seed exactly
as its own program."""

import jax
import numpy as np

from benchmarks.common import seeds_program
from genmodels.sweeps.overrides import parse_config


def test_vmapped_seeds_equal_separate_programs():
    config = parse_config("configs/gan.py:grid25_protocol", [
        "--config.model.g_hidden=(16,16)", "--config.model.d_hidden=(8,8)"])
    compiled, states, batches, flops = seeds_program(config, 2, batch_size=10, steps_per_call=3)
    single, _, _, single_flops = seeds_program(config, 1, batch_size=10, steps_per_call=3)
    seed_states = [jax.tree.map(lambda a, i=i: a[i], states) for i in range(2)]
    seed_batches = [jax.tree.map(lambda a, i=i: a[i], batches) for i in range(2)]
    # The seeds start from different initialisations.
    first = [np.asarray(jax.tree.leaves(s.params)[-1]) for s in seed_states]
    assert not np.allclose(first[0], first[1])
    together = compiled(states, batches)[0]  # The programs donate their states.
    for i in range(2):
        alone = single(seed_states[i], seed_batches[i])[0]
        mine = jax.tree.map(lambda a, i=i: a[i], together)
        # Batch norm inside vmap normalises each seed's batch alone, as it should.
        for a, b in zip(jax.tree.leaves(mine.params), jax.tree.leaves(alone.params)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert int(mine.step) == 3
    np.testing.assert_allclose(flops, 2 * single_flops, rtol=0.05)
