"""The shipped sweep files (configs/sweeps/): each loads into distinct, valid runs, and the
issue sweeps set the fields their docstrings and docs tables claim."""

import glob
import importlib
import os

import pytest

from genmodels import config as config_lib
from genmodels import sweeps
from tests.helpers import REPO


def test_shipped_grid25_sweep_expands_and_validates(tmp_path):
    sweep = sweeps.load_sweep(os.path.join(REPO, "configs/sweeps/gan_losses_grid25.py"),
                              str(tmp_path))
    assert len(sweep.runs) == 4 * 3 * 3 and sweep.metrics == ["modes", "hq_fraction", "reverse_kl"]
    assert len({r.id for r in sweep.runs}) == 36
    for run in sweep.runs:  # Each discriminator loss trains with its own generator loss.
        assert run.config.losses.generator == run.config.losses.discriminator
        assert run.config.data.name == "grid25"
    assert not os.listdir(tmp_path)  # Loading writes nothing.


def test_shipped_vae_family_sweeps_expand_and_validate(tmp_path):
    rae_sweep = sweeps.load_sweep(os.path.join(REPO, "configs/sweeps/rae_regularisers.py"),
                                  str(tmp_path))
    assert len(rae_sweep.runs) == 5 * 3 and rae_sweep.metrics == ["recon", "psnr"]
    regs = [(r.config.model.regularizer, r.config.model.reg_weight, r.config.model.beta)
            for r in rae_sweep.runs]
    assert sorted(set(regs)) == [("gp", 1e-2, 1e-3), ("l2", 1e-4, 1e-3), ("none", 0.0, 0.0),
                                 ("none", 0.0, 1e-3), ("spectral_norm", 0.0, 1e-3)]
    assert all(r.config.data.name == "digits" for r in rae_sweep.runs)
    beta_sweep = sweeps.load_sweep(os.path.join(REPO, "configs/sweeps/beta_vae_dsprites.py"),
                                   str(tmp_path))
    assert len(beta_sweep.runs) == 5 * 3 and "mig" in beta_sweep.metrics
    assert sorted({r.config.model.beta for r in beta_sweep.runs}) == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert all(r.config.data.name == "dsprites" and "mig" in r.config.eval.metrics
               and "elbo" in r.config.eval.metrics for r in beta_sweep.runs)
    assert len({r.id for r in rae_sweep.runs + beta_sweep.runs}) == 30
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("name", sorted(
    os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "configs/sweeps/*.py"))
    if not p.endswith("__init__.py")))
def test_every_shipped_sweep_loads(name, tmp_path):
    sweep = sweeps.load_sweep(os.path.join(REPO, f"configs/sweeps/{name}.py"), str(tmp_path))
    assert len({r.id for r in sweep.runs}) == len(sweep.runs) > 0


def test_protocol_ablation_switches_one_factor_per_arm(tmp_path):
    sweep = sweeps.load_sweep(os.path.join(REPO, "configs/sweeps/protocol_ablation.py"),
                              str(tmp_path))
    assert len(sweep.runs) == 24 and sweep.last_evals == 5
    seed0 = [r.config for r in sweep.runs if r.config.seed == 0]
    plain = seed0[0]
    changed = [set(config_lib.config_differences(plain.to_dict(), c.to_dict())) for c in seed0]
    assert changed[:7] == [set(), {"optim.generator.b1", "optim.discriminator.b1"},
                           {"schedule.simultaneous"}, {"model.init"},
                           {"model.bn_epsilon", "model.bn_momentum"},
                           {"model.ema_decay", "model.ema_batch_stats"}, {"model.ema_decay"}]
    assert changed[7] == set().union(*changed[1:5])  # The protocol preset: factors 1-4.
    assert all(c.train.num_steps == 30_000 and c.eval.every == 1000 for c in seed0)


def test_protocol_schedule_adds_ema_and_decay_to_the_protocol(tmp_path):
    sweep = sweeps.load_sweep(os.path.join(REPO, "configs/sweeps/protocol_schedule.py"),
                              str(tmp_path))
    assert len(sweep.runs) == 21 and sweep.last_evals == 5
    seed0 = [r.config for r in sweep.runs if r.config.seed == 0]
    assert [(c.method, c.model.ema_decay, c.optim.generator.schedule) for c in seed0] == [
        ("bgan", 0.99, "linear"), ("bgan", 0.0, "constant"), ("bgan", 0.99, "constant"),
        ("bgan", 0.0, "linear"), ("gan", 0.99, "linear"), ("gan", 0.99, "constant"),
        ("gan", 0.0, "linear")]
    for c in seed0:
        assert c.train.num_steps == 30_000 and c.schedule.simultaneous
        for player in ("generator", "discriminator"):
            optim = c.optim[player]
            if optim.schedule == "linear":  # To 0 at the run's last step.
                assert optim.decay_begin + optim.decay_steps == c.train.num_steps
    assert all(c.bgan.variant == "mbgan" and c.bgan.mixes_per_step == 4
               for c in seed0 if c.method == "bgan")
    sweeps.check_builds(sweep.runs[:1] + sweep.runs[12:13])


def test_presets_sweep_runs_the_presets_as_shipped(tmp_path):
    """Its train_minutes and metrics speak for the presets only if nothing else is changed."""
    sweep = sweeps.load_sweep(os.path.join(REPO, "configs/sweeps/presets_2d.py"), str(tmp_path))
    assert len(sweep.runs) == 12 and sweep.last_evals == 5
    for run in sweep.runs:
        path, preset = run.overrides["config"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        shipped = module.get_config(preset)
        assert config_lib.config_differences(shipped.to_dict(), run.config.to_dict()) == (
            [] if run.config.seed == shipped.seed else ["seed"])
        # Enough evaluations for the mean over the last 5.
        assert run.config.train.num_steps >= 5 * run.config.eval.every > 0


def test_protocol_mode_coverage_table_builds(tmp_path):
    """Issue 26's table: 7 methods x 2 mixtures x 5 seeds on the _protocol presets, each run
    buildable (packing and the minibatch-stddev layer under simultaneous updates included)."""
    sweep = sweeps.load_sweep(os.path.join(REPO, "configs/sweeps/mode_coverage_protocol.py"),
                              str(tmp_path))
    assert len(sweep.runs) == 70 and sweep.last_evals == 5
    assert {(r.config.data.name, r.config.method) for r in sweep.runs} == {
        (d, m) for d in ("ring8", "grid25") for m in ("gan", "bgan")}
    assert all(r.config.schedule.simultaneous and r.config.optim.generator.b1 == 0.2
               and r.config.model.init == "normal_0.02" and r.config.train.num_steps == 30_000
               and r.config.model.ema_decay == 0.99 and r.config.optim.generator.decay_begin
               + r.config.optim.discriminator.decay_steps == 30_000 for r in sweep.runs)
    # PacGAN-m's D sees 100 rows of m points, as in PacGAN's code: batch 100 m.
    assert {(r.config.model.get("pack", 1), r.config.data.batch_size) for r in sweep.runs} == {
        (1, 100), (2, 200), (4, 400)}
    sweeps.check_builds([r for r in sweep.runs if r.config.seed == 0])


def test_bgan_preset_search_changes_one_thing_per_arm(tmp_path):
    """Each candidate is protocol_schedule's best M-BGAN arm (4 mixes, EMA, decay over the second
    half) with one change; the decay ends at the last step of every budget."""
    sweep = sweeps.load_sweep(os.path.join(REPO, "configs/sweeps/bgan_preset_search.py"),
                              str(tmp_path))
    schedule = sweeps.load_sweep(os.path.join(REPO, "configs/sweeps/protocol_schedule.py"),
                                 str(tmp_path)).runs[0].config  # M-BGAN x4 + EMA + decay, seed 0
    assert len(sweep.runs) == 18
    assert [r.config.seed for r in sweep.runs] == [0] * 12 + [0, 1, 2] * 2
    arms, finalists = sweep.runs[:12], (sweep.runs[12:15], sweep.runs[15:])
    changed = [set(config_lib.config_differences(schedule.to_dict(), r.config.to_dict()))
               for r in arms + [f[0] for f in finalists]]
    decay = {f"optim.{p}.{f}" for p in ("generator", "discriminator")
             for f in ("decay_begin", "decay_steps")}
    point = changed[0] | {"bgan.mixes_per_step", "bgan.element_weight", "bgan.point_weight"}
    assert changed == [
        {"train.num_steps", "train.checkpoint_every", "train.sample_every"} | decay,
        {"model.ema_decay"},
        {"optim.generator.learning_rate", "optim.discriminator.learning_rate"},
        {"bgan.mixes_per_step"}, {"model.d_set_layers"}, {"model.d_set_layers"},
        changed[0] | {"bgan.mixes_per_step"}, changed[0] | {"model.d_set_layers"},
        {"bgan.element_weight"},
        point, point, point,  # 1 mix, weight 3, 120k steps
        changed[0] | {"bgan.mixes_per_step", "bgan.element_weight"},  # the finalist, 3 seeds
        point]  # the point finalist, 3 seeds
    assert [r.config.bgan.point_weight for r in arms[9:]] == [1.0, 3.0, 1.0]
    assert [r.config.train.num_steps for r in arms[9:]] == [60_000, 60_000, 120_000]
    for runs in finalists:
        for run in runs[1:]:
            assert set(config_lib.config_differences(runs[0].config.to_dict(),
                                                     run.config.to_dict())) == {"seed"}
    for c in (r.config for r in sweep.runs):
        for player in ("generator", "discriminator"):
            optim = c.optim[player]
            assert optim.decay_begin == c.train.num_steps // 2
            assert optim.decay_begin + optim.decay_steps == c.train.num_steps
    sweeps.check_builds(sweep.runs[-1:])


def test_shipped_bgan_grid25_preset_is_the_search_finalist(tmp_path):
    """docs/adversarial.md reports `configs/bgan.py:grid25` by the search finalist's 3 runs: each
    must be the preset with its seed, up to how often it logs, checkpoints and samples (which do
    not change a run's trajectory)."""
    sweep = sweeps.load_sweep(os.path.join(REPO, "configs/sweeps/bgan_preset_search.py"),
                              str(tmp_path))
    shipped = importlib.import_module("configs.bgan").get_config("grid25")
    finalist = sweep.runs[12:15]
    assert [r.config.seed for r in finalist] == [0, 1, 2]
    assert {r.config.bgan.point_weight for r in finalist} == {0.0}
    cadence = {"train.log_every", "train.checkpoint_every", "train.sample_every"}
    for run in finalist:
        changed = set(config_lib.config_differences(shipped.to_dict(), run.config.to_dict()))
        assert changed - {"seed"} <= cadence, changed
