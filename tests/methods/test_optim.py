"""Optimizer blocks: learning-rate schedules and their errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import default
from genmodels.train import loop
from genmodels.methods.optim import learning_rate, make_optimizer
from tests.helpers import flat_params, tiny_points_gan


def _block(schedule, begin=0, steps=0, name="adam"):
    c = default.adam(0.1)
    c.name, c.schedule, c.decay_begin, c.decay_steps = name, schedule, begin, steps
    return c


def test_constant_is_the_plain_float():
    assert learning_rate(default.adam(3e-4), "optim") == 3e-4


@pytest.mark.parametrize("schedule, mid", [("linear", 0.05), ("cosine", 0.05)])
def test_schedules_hold_then_decay_to_zero(schedule, mid):
    lr = learning_rate(_block(schedule, begin=10, steps=20), "optim")
    values = {t: float(lr(t)) for t in (0, 9, 10, 15, 20, 30, 100)}
    assert values[0] == values[9] == values[10] == pytest.approx(0.1)
    assert values[20] == pytest.approx(mid, rel=1e-6)  # Half-way through the decay.
    assert values[30] == pytest.approx(0.0, abs=1e-9) and values[100] == pytest.approx(0.0, abs=1e-9)
    quarter = 0.1 * (0.75 if schedule == "linear" else (1 + math.cos(math.pi / 4)) / 2)
    assert values[15] == pytest.approx(quarter, rel=1e-6)


def test_sgd_updates_follow_the_schedule():
    """Each sgd update is -lr(t) g with t the number of earlier updates."""
    opt = make_optimizer(_block("linear", begin=2, steps=4, name="sgd"), "optim")
    params, grad = jnp.zeros(3), jnp.array([1.0, -2.0, 0.5])
    state = opt.init(params)
    for t, lr_t in enumerate([0.1, 0.1, 0.1, 0.075, 0.05, 0.025, 0.0, 0.0]):
        updates, state = opt.update(grad, state, params)
        np.testing.assert_allclose(updates, -lr_t * grad, rtol=1e-6, atol=1e-9, err_msg=f"t={t}")


def test_schedule_errors_name_the_field():
    with pytest.raises(ValueError, match=r"optim.generator.schedule.*linear, cosine"):
        make_optimizer(_block("step"), "optim.generator")
    with pytest.raises(ValueError, match=r"optim.decay_steps >= 1"):
        make_optimizer(_block("cosine", steps=0), "optim")
    with pytest.raises(ValueError, match=r"decay_begin >= 0"):
        make_optimizer(_block("linear", begin=-1, steps=5), "optim")


def test_constant_keeps_the_optimizer_state_of_older_checkpoints():
    """schedule=constant builds the same optimizer state as before the field existed, so runs
    checkpointed without it still restore."""
    old = optax.adam(0.1).init(jnp.zeros(2))
    new = make_optimizer(default.adam(0.1), "optim").init(jnp.zeros(2))
    assert jax.tree_util.tree_structure(old) == jax.tree_util.tree_structure(new)


def _scheduled_gan(**train):
    c = tiny_points_gan(**train)
    for player in ("generator", "discriminator"):
        c.optim[player].update(schedule="cosine", decay_begin=2, decay_steps=4)
    return c


def test_scheduled_run_resumes_exactly_and_ends_with_frozen_params(tmp_path):
    """The schedule counts the optimizer's own updates, which the checkpoint restores: a run
    stopped at step 3 and resumed equals the uninterrupted one. After decay_begin + decay_steps
    updates the learning rate is 0, so two more steps leave the params unchanged."""
    full = loop.train_and_evaluate(_scheduled_gan(), str(tmp_path / "full"))
    part = str(tmp_path / "part")
    loop.train_and_evaluate(_scheduled_gan(num_steps=3), part)
    resumed = loop.train_and_evaluate(_scheduled_gan(), part)
    np.testing.assert_array_equal(flat_params(resumed), flat_params(full))
    longer = loop.train_and_evaluate(_scheduled_gan(num_steps=8, checkpoint_every=8),
                                     str(tmp_path / "longer"))
    np.testing.assert_array_equal(flat_params(longer), flat_params(full))
