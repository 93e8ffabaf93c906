"""The generic train step (genmodels/train/step.py): scheduled repeats, weight clipping, the
generator EMA and its warm-up, and train.steps_per_call (k steps in one lax.scan equal k single
calls)."""

import jax
import numpy as np
import pytest

from genmodels.train import loop
from genmodels.workdir import read_metrics
from tests.helpers import flat_params, tiny_gan, tiny_vae

TIMING = loop.TIMING_METRICS


def _config(make_config, k):
    c = make_config(num_steps=6, log_every=3, checkpoint_every=3, sample_every=3)
    c.eval.every = 3
    c.train.steps_per_call = k
    return c


def _metrics(workdir):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(workdir)]


@pytest.mark.parametrize("make_config", [tiny_vae, tiny_gan], ids=["vae", "gan"])
def test_scan_of_k_steps_equals_k_single_steps(tmp_path, make_config):
    single = loop.train_and_evaluate(_config(make_config, 1), str(tmp_path / "k1"))
    scanned = loop.train_and_evaluate(_config(make_config, 3), str(tmp_path / "k3"))
    assert int(scanned.step) == 6
    np.testing.assert_allclose(flat_params(scanned), flat_params(single), rtol=1e-5, atol=1e-6)
    a, b = _metrics(tmp_path / "k1"), _metrics(tmp_path / "k3")
    assert [(r["step"], r["split"]) for r in a] == [(r["step"], r["split"]) for r in b]
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        np.testing.assert_allclose([rb[k] for k in sorted(rb) if k != "split"],
                                   [ra[k] for k in sorted(ra) if k != "split"], rtol=1e-4)


def test_resume_with_steps_per_call(tmp_path):
    whole = loop.train_and_evaluate(_config(tiny_vae, 3), str(tmp_path / "whole"))
    c = _config(tiny_vae, 3)
    c.train.num_steps = 3
    loop.train_and_evaluate(c, str(tmp_path / "parts"))
    resumed = loop.train_and_evaluate(_config(tiny_vae, 3), str(tmp_path / "parts"))
    np.testing.assert_array_equal(flat_params(resumed), flat_params(whole))


def test_intervals_must_be_multiples_of_steps_per_call(tmp_path):
    c = _config(tiny_vae, 4)
    with pytest.raises(ValueError, match=r"steps_per_call=4 must divide train.num_steps=6, "
                                         r"train.log_every=3"):
        loop.train_and_evaluate(c, str(tmp_path))


def test_scheduled_repeats_use_scan_and_average(tmp_path):
    config = tiny_gan(num_steps=2, log_every=1)
    config.schedule.d_steps = 3
    state = loop.train_and_evaluate(config, str(tmp_path))
    # Three discriminator updates per step: Adam's count is 3x the generator's.
    counts = {p: int(jax.tree.leaves(state.opt_state[p])[0]) for p in state.opt_state}
    assert counts == {"discriminator": 6, "generator": 2}


def test_weight_clipping_generator_ema_and_penalty_in_the_step():
    from genmodels import data, methods
    from genmodels.train.state import inference_variables, init_train_state
    from genmodels.train.step import make_train_step

    config = tiny_gan()
    config.losses.update(dict(discriminator="wasserstein", generator="wasserstein",
                              penalty="wgan_gp", weight_clip=0.01))
    config.model.ema_decay = 0.9
    method = methods.build(config, data.get_info(config.data))
    batch = jax.tree.map(jax.numpy.asarray, next(data.train_batches(
        config.data, batch_size=16, seed=0)))
    state0 = init_train_state(method, jax.random.PRNGKey(0), batch)
    state1, metrics = jax.jit(make_train_step(method))(state0, batch)
    d_leaves = jax.tree.leaves(state1.params["discriminator"])
    assert max(float(np.max(np.abs(w))) for w in d_leaves) <= 0.01 + 1e-7
    # First update: the warm-up decay min(0.9, (1 + 0) / (10 + 0)) = 0.1.
    expected = jax.tree.map(lambda a, b: 0.1 * a + 0.9 * b, state0.params["generator"],
                            state1.params["generator"])
    for got, want in zip(jax.tree.leaves(state1.ema_params["generator"]), jax.tree.leaves(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert "discriminator" not in state1.ema_params
    sampled = inference_variables(state1)["generator"]["params"]
    assert jax.tree.leaves(sampled)[0] is jax.tree.leaves(state1.ema_params["generator"])[0]
    assert np.isfinite(metrics["penalty"]) and float(metrics["penalty"]) > 0


def test_ema_decay_warms_up_to_the_configured_decay():
    from genmodels.train.step import ema_decay_at

    steps = jax.numpy.array([0, 1, 10, 890, 100_000])
    np.testing.assert_allclose(ema_decay_at(0.99, steps),
                               [0.1, 2 / 11, 11 / 20, 0.99, 0.99], rtol=1e-6)
    # After t updates from init, the init's weight is prod_s d_s = 9! t! / (t + 9)! (< 1e-20
    # at t = 1000), against 0.999^1000 = 0.37 for a constant decay.
    weight = float(np.prod(np.asarray(ema_decay_at(0.999, jax.numpy.arange(1000)), np.float64)))
    assert weight == pytest.approx(np.prod(np.arange(1, 10) / np.arange(1001, 1010)), rel=1e-4)
