"""genmodels.sweeps and experiments.sweep: expansion, run ids, validation, resuming, aggregation,
plug-in losses, --print_commands."""

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap

import pytest

import configs.hybrid
from genmodels import sweeps
from tests.helpers import REPO

# Every run of the CLI tests: 2 steps of a tiny ring8 MLP GAN with a final checkpoint and eval.
TINY = {"model.g_hidden": (8,), "model.d_hidden": (8,), "model.maxout": 1,
        "data.batch_size": 16, "train.num_steps": 2, "train.log_every": 1,
        "train.checkpoint_every": 2, "train.sample_every": 2, "train.num_sample_images": 16,
        "train.tensorboard": False, "eval.every": 2}


def _sweep_file(tmp_path, sweep_body: str, name: str = "tiny",
                base: str = "configs/gan.py:ring8_plain",
                extra: str = "", fixed: dict | None = None) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(f"""\
        from genmodels.sweeps import chain, product, seeds, zip_

        def base():
            return {base!r}

        def fixed():
            return {TINY if fixed is None else fixed!r}

        def sweep():
            return {sweep_body}
        """) + textwrap.dedent(extra))
    return str(path)


def _cli(*args, env=None, timeout=300):
    full_env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
    return subprocess.run([sys.executable, "-m", "experiments.sweep", *args], cwd=REPO,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


# --- expansion and ids --------------------------------------------------------------------------

def test_product_zip_seeds_and_chain():
    grid = sweeps.product({"losses.penalty": ["none", "r1"]}, sweeps.seeds(3))
    assert len(grid) == 6
    assert grid[:4] == [{"losses.penalty": "none", "seed": 0},
                        {"losses.penalty": "none", "seed": 1},
                        {"losses.penalty": "none", "seed": 2}, {"losses.penalty": "r1", "seed": 0}]
    pairs = sweeps.zip_({"losses.discriminator": ["hinge", "wasserstein"],
                         "losses.generator": ["hinge", "wasserstein"]})
    assert pairs == [{"losses.discriminator": "hinge", "losses.generator": "hinge"},
                     {"losses.discriminator": "wasserstein", "losses.generator": "wasserstein"}]
    crossed = sweeps.product(pairs, {"losses.penalty": ["none", "r1", "wgan_gp"]}, sweeps.seeds(2))
    assert len(crossed) == 12 and crossed[-1] == {
        "losses.discriminator": "wasserstein", "losses.generator": "wasserstein",
        "losses.penalty": "wgan_gp", "seed": 1}
    assert sweeps.product(seed=[0, 1]) == sweeps.seeds(2)
    assert sweeps.seeds(2, start=5) == [{"seed": 5}, {"seed": 6}]
    assert len(sweeps.chain(crossed, sweeps.seeds(1))) == 13
    with pytest.raises(sweeps.SweepError, match="equal length"):
        sweeps.zip_({"a": [1, 2], "b": [1, 2, 3]})
    with pytest.raises(sweeps.SweepError, match="'seed' is set by two factors"):
        sweeps.product(sweeps.seeds(2), seed=[3])
    with pytest.raises(sweeps.SweepError, match="needs a list"):
        sweeps.product({"losses.penalty": "r1"})


def test_run_ids_are_readable_unique_and_stable():
    runs = sweeps.product({"losses.discriminator": ["hinge", "least_squares"]}, sweeps.seeds(2))
    assert sweeps.run_ids(runs) == ["discriminator-hinge_seed-0", "discriminator-hinge_seed-1",
                                    "discriminator-least_squares_seed-0",
                                    "discriminator-least_squares_seed-1"]
    # Same leaf name in two sections: the shortest distinguishing suffix; tuples and import paths.
    ids = sweeps.run_ids([{"optim.generator.learning_rate": 1e-4,
                           "optim.discriminator.learning_rate": 1e-3,
                           "model.g_hidden": (8, 8), "losses.generator": "my.mod:my_loss"}])
    assert ids == ["generator.learning_rate-0.0001_discriminator.learning_rate-0.001_"
                   "g_hidden-8-8_generator-my.mod-my_loss"]
    # Values that sanitize to the same text get a short hash of the overrides (sha1: stable).
    clash = sweeps.run_ids([{"data.name": "a/b"}, {"data.name": "a-b"}, {"data.name": "c"}])
    assert clash[0].startswith("name-a-b_") and clash[1].startswith("name-a-b_")
    assert len(set(clash)) == 3 and clash[2] == "name-c"
    assert clash == sweeps.run_ids([{"data.name": "a/b"}, {"data.name": "a-b"}, {"data.name": "c"}])
    long = sweeps.run_ids([{"data.name": "x" * 300}])[0]
    assert len(long) <= 120
    with pytest.raises(sweeps.SweepError, match="same overrides"):
        sweeps.run_ids([{"seed": 0}, {"seed": 0}])


# --- validation before any run -----------------------------------------------------------------

@pytest.mark.parametrize("override, message", [
    ("{'model.g_hiden': (8,)}", r"Run g_hiden-8: Unknown config field 'model.g_hiden': did you "
                                r"mean 'model.g_hidden'"),
    ("{'model.latent_dim': 'two'}", r"Run latent_dim-two: Wrong type for config field "
                                    r"'model.latent_dim': 'two' is a str; the field takes int"),
    ("{'model.use_batch_norm': 1}", r"Wrong type for config field 'model.use_batch_norm'"),
    ("{'train.num_steps': 3}", r"sweeps \['train.num_steps'\], which fixed\(\) also sets"),
    ("{'seed.x': 1}", r"Unknown config field 'seed.x': seed is an int"),
])
def test_bad_override_fails_before_any_run(tmp_path, override, message):
    path = _sweep_file(tmp_path, f"[{{'seed': 0}}, {override}]")
    with pytest.raises(sweeps.SweepError, match=message):
        sweeps.load_sweep(path, str(tmp_path / "root"))


def test_cli_bad_override_names_the_field_and_creates_nothing(tmp_path):
    path = _sweep_file(tmp_path, "product({'losses.pnalty': ['none', 'r1']}, seeds(2))")
    result = _cli(f"--sweep={path}", f"--workdir={tmp_path / 'root'}")
    assert result.returncode != 0
    assert "Run pnalty-none_seed-0: Unknown config field 'losses.pnalty'" in result.stderr
    assert "did you mean 'losses.penalty'" in result.stderr
    assert not (tmp_path / "root").exists()


def test_tuple_overrides_from_lists_and_strings(tmp_path):
    path = _sweep_file(tmp_path, "[{'model.g_hidden': [4, 4]}, {'model.g_hidden': '(2, 2)'}]",
                       fixed={})
    runs = sweeps.load_sweep(path, str(tmp_path)).runs
    assert [r.config.model.g_hidden for r in runs] == [(4, 4), (2, 2)]
    assert "--config.model.g_hidden=(4, 4)" in runs[0].flags


def test_thread_env_splits_the_cores():
    assert sweeps.thread_env(1, 16) == {}
    assert sweeps.thread_env(4, 16)["NPROC"] == "4"
    assert sweeps.thread_env(16, 16)["NPROC"] == "2"  # Never below 2 (docs/sweeps.md, "Cores").
    assert sweeps.thread_env(2, 2) == {k: "2" for k in ("NPROC", "OMP_NUM_THREADS",
                                                        "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


# --- running -----------------------------------------------------------------------------------

def test_print_commands_runs_nothing_and_each_command_runs(tmp_path):
    path = _sweep_file(tmp_path, "product({'losses.penalty': ['none', 'r1']}, seeds(2))")
    root = tmp_path / "root"
    result = _cli(f"--sweep={path}", f"--workdir={root}", "--print_commands")
    assert result.returncode == 0, result.stderr
    commands = result.stdout.strip().splitlines()
    assert len(commands) == 4 and not root.exists()
    assert all(c.startswith("python -m experiments.main --config=configs/gan.py:ring8_plain ")
               for c in commands)
    assert f"--workdir={root}/tiny/penalty-r1_seed-1" in commands[3]
    argv = shlex.split(commands[3])
    subprocess.run([sys.executable, *argv[1:]], cwd=REPO, check=True, capture_output=True,
                   env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert sweeps.is_finished(str(root / "tiny" / "penalty-r1_seed-1"))


def test_interrupted_sweep_resumes_without_rerunning_finished_runs(tmp_path):
    path = _sweep_file(tmp_path, "seeds(2)")
    root = tmp_path / "root"
    first = _cli(f"--sweep={path}", f"--workdir={root}", "--parallel=2")
    assert first.returncode == 0, first.stderr
    assert "[2/2] done" in first.stderr
    done, cut = root / "tiny" / "seed-0", root / "tiny" / "seed-1"
    assert sweeps.is_finished(str(done)) and sweeps.is_finished(str(cut))
    untouched = {name: os.stat(done / name).st_mtime_ns for name in
                 ("log.txt", "metrics.jsonl", "config.json")}
    # seed-1 was killed before its final checkpoint: it has a config but no step-2 checkpoint.
    shutil.rmtree(cut / "checkpoints" / "2")
    assert not sweeps.is_finished(str(cut))

    second = _cli(f"--sweep={path}", f"--workdir={root}")
    assert second.returncode == 0, second.stderr
    assert "[1/2] skipped 1 finished run(s)" in second.stderr
    assert "[2/2] done seed-1" in second.stderr
    assert sweeps.is_finished(str(cut))
    assert {n: os.stat(done / n).st_mtime_ns for n in untouched} == untouched
    assert (cut / "log.txt").read_text().count("=== ") == 2  # Appended, with each command line.
    with open(root / "tiny" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == ["seed-0", "seed-1"] and all(r["step"] == "2" for r in rows)
    assert "modes" in rows[0]


def test_plugin_loss_by_import_path_and_failed_runs_are_reported(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "sweep_test_losses.py").write_text(textwrap.dedent("""\
        import jax
        import jax.numpy as jnp

        def my_loss(fake_logits):
            # The non-saturating generator loss, written out.
            return -jnp.mean(jax.nn.log_sigmoid(fake_logits))

        def broken_loss(fake_logits):
            raise ValueError("broken_loss always fails")
        """))
    path = _sweep_file(tmp_path, "product({'losses.generator': ['sweep_test_losses:my_loss', "
                                 "'sweep_test_losses:broken_loss']})")
    root = tmp_path / "root"
    result = _cli(f"--sweep={path}", f"--workdir={root}",
                  env={"PYTHONPATH": f"{plugins}{os.pathsep}{REPO}"})
    good = root / "tiny" / "generator-sweep_test_losses-my_loss"
    bad = root / "tiny" / "generator-sweep_test_losses-broken_loss"
    assert result.returncode == 1
    assert "1 of 2 run(s) failed" in result.stderr and bad.name in result.stderr
    assert "broken_loss always fails" in (bad / "log.txt").read_text()
    records = [json.loads(line) for line in open(good / "metrics.jsonl")]
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2]
    assert json.load(open(good / "config.json"))["losses"]["generator"] == \
        "sweep_test_losses:my_loss"
    assert "sweep_test_losses:my_loss" in (root / "tiny" / "results.md").read_text()


# --- aggregation -------------------------------------------------------------------------------

def _write_records(workdir, *records):
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def test_aggregation_of_synthetic_results(tmp_path):
    path = _sweep_file(tmp_path, "product({'losses.penalty_weight': [1.0, 10.0]}, seeds(3))",
                       name="agg", extra="""
        def metrics():
            return ["modes", "precision", "recall"]
        """)
    sweep = sweeps.load_sweep(path, str(tmp_path / "root"))
    modes = {1.0: [4, 6, 8], 10.0: [8, 8]}  # Weight 10, seed 2: see below.
    for run in sweep.runs:
        weight, seed = run.overrides["losses.penalty_weight"], run.overrides["seed"]
        if seed >= len(modes[weight]):
            continue
        train = {"step": 5, "split": "train", "loss/generator": 1.0, "modes": -1}
        evals = {"step": 4, "split": "eval", "modes": modes[weight][seed],
                 "precision": 0.5 + 0.1 * seed, "recall": 0.2}
        _write_records(run.workdir, {"step": 2, "split": "eval", "modes": 0}, evals, train)
    # A finished run whose evaluation lacks some metrics.
    _write_records(sweep.runs[-1].workdir, {"step": 4, "split": "eval", "modes": 3.0})
    paths = sweeps.aggregate(sweep)

    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [r.id for r in sweep.runs]
    assert list(rows[0]) == ["id", "losses.penalty_weight", "seed", "step", "modes", "precision",
                             "recall"]
    assert [float(r["modes"]) for r in rows] == [4, 6, 8, 8, 8, 3]
    assert rows[0]["losses.penalty_weight"] == "1.0" and rows[0]["step"] == "4"
    assert rows[-1]["step"] == "4" and rows[-1]["precision"] == ""

    md = open(paths["md"]).read()
    # Weight 1: modes 4, 6, 8 -> mean 6, std (ddof=1) 2. Weight 10: 8, 8, 3 -> 6.333 ± 2.887.
    assert "| 1.0 | 3 | 6 ± 2 | 0.6 ± 0.1 | 0.2 ± 0 |" in md
    # Its last run has no precision/recall: those cells say over how many runs.
    assert "| 10.0 | 3 | 6.333 ± 2.887 | 0.55 ± 0.07071 (n=2) | 0.2 ± 0 (n=2) |" in md
    assert "6 of 6 runs have results" in md
    assert [os.path.basename(p) for p in paths["plots"]] == ["losses.penalty_weight.png",
                                                             "settings.png",
                                                             "precision_recall.png"]
    assert all(os.path.getsize(p) > 1000 for p in paths["plots"])


def test_means_over_the_last_evaluations(tmp_path):
    path = _sweep_file(tmp_path, "seeds(2)", name="last", extra="""
        def metrics():
            return ["modes", "hq_fraction"]

        def last_evals():
            return 3
        """)
    sweep = sweeps.load_sweep(path, str(tmp_path / "root"))
    hq = [0.1, 0.9, 0.2, 0.4]  # A lucky evaluation (0.9) is one of four.
    _write_records(sweep.runs[0].workdir, *(
        {"step": 10 * (i + 1), "split": "eval", "modes": 20 + i, "hq_fraction": h}
        for i, h in enumerate(hq)), {"step": 41, "split": "train", "modes": -1})
    # Two evaluations only: no mean over the last 3.
    _write_records(sweep.runs[1].workdir, *(
        {"step": 10 * (i + 1), "split": "eval", "modes": 24, "hq_fraction": 0.5}
        for i in range(2)))
    with open(sweeps.aggregate(sweep)["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[-6:] == ["modes", "hq_fraction", "modes_last3", "modes_last3_std",
                                  "hq_fraction_last3", "hq_fraction_last3_std"]
    assert float(rows[0]["hq_fraction"]) == 0.4  # The final evaluation.
    assert float(rows[0]["hq_fraction_last3"]) == pytest.approx((0.9 + 0.2 + 0.4) / 3)
    assert float(rows[0]["hq_fraction_last3_std"]) == pytest.approx(0.3605551, rel=1e-6)  # ddof=1
    assert float(rows[0]["modes_last3"]) == pytest.approx(22.0)
    assert float(rows[1]["modes"]) == 24
    assert rows[1]["modes_last3"] == ""
    # A run still training (its last eval short of train.num_steps = 2) has no results yet: its
    # early evaluation must not enter the mean over seeds of finished runs.
    _write_records(sweep.runs[1].workdir, {"step": 1, "split": "eval", "modes": 3,
                                           "hq_fraction": 0.0})
    paths = sweeps.aggregate(sweep)
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert rows[1]["modes"] == rows[1]["step"] == ""
    assert f"{sweep.runs[1].id} (at step 1)" in open(paths["md"]).read()
    # Nor does a run with eval.metrics that reached its last step but not its final eval record
    # (killed during the final evaluation).
    _write_records(sweep.runs[1].workdir, {"step": 2, "split": "train", "modes": 3})
    paths = sweeps.aggregate(sweep)
    with open(paths["csv"]) as f:
        assert list(csv.DictReader(f))[1]["modes"] == ""
    assert f"{sweep.runs[1].id} (at step 2)" in open(paths["md"]).read()
    # last_evals() needs metrics() to say what to average.
    bad = _sweep_file(tmp_path, "seeds(2)", name="bad_last", extra="""
        def last_evals():
            return 3
        """)
    with pytest.raises(sweeps.SweepError, match="last_evals.*metrics"):
        sweeps.load_sweep(bad, str(tmp_path / "root"))
    one = _sweep_file(tmp_path, "seeds(2)", name="one_last", extra="""
        def metrics():
            return ["modes"]

        def last_evals():
            return 1
        """)
    with pytest.raises(sweeps.SweepError, match=">= 2"):
        sweeps.load_sweep(one, str(tmp_path / "root"))


def test_train_minutes_column(tmp_path):
    """Each run's train time is a metric a sweep can table (the hybrid job's 15-minute budget)."""
    path = _sweep_file(tmp_path, "seeds(2)", name="timed", extra="""
        def metrics():
            return ["modes", "train_minutes"]

        def last_evals():
            return 2
        """)
    sweep = sweeps.load_sweep(path, str(tmp_path / "root"))
    _write_records(sweep.runs[0].workdir, {"step": 600, "split": "train", "steps_per_sec": 2.0},
                   {"step": 1200, "split": "train", "steps_per_sec": 4.0},
                   {"step": 1200, "split": "eval", "modes": 7})
    _write_records(sweep.runs[1].workdir, {"step": 1200, "split": "eval", "modes": 8})
    with open(sweeps.aggregate(sweep)["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["train_minutes"]) == pytest.approx((300 + 150) / 60)
    assert float(rows[0]["modes"]) == 7 and rows[1]["train_minutes"] == ""
    # The train time is of the whole run: no mean of it over the last evaluations.
    assert list(rows[0])[-4:] == ["modes", "train_minutes", "modes_last2", "modes_last2_std"]


def test_mean_std_and_default_metrics():
    mean, std = sweeps.mean_std([1.0])
    assert mean == 1.0 and std != std  # NaN: no spread from one seed.
    assert sweeps.mean_std([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5))
    assert sweeps.numeric_metrics([{"step": 1, "split": "eval", "fid": 3.0, "note": "x",
                                    "ok": True, "kl": None}]) == ["fid", "kl"]
    assert sweeps.summary_cell([2.0]) == "2" and sweeps.summary_cell([]) == "–"


def test_runs_can_name_their_own_base_config(tmp_path):
    """The hybrid ablation mixes hybrid runs with GAN and flow baselines: each run's config and
    command line come from its own base (the "config" key), fixed() applies to all of them."""
    sweep = sweeps.load_sweep(os.path.join(REPO, "configs/sweeps/hybrid_ablation.py"),
                              str(tmp_path))
    assert len(sweep.runs) == 24 and len({r.id for r in sweep.runs}) == 24  # 8 arms, 3 seeds.
    seed0 = [r for r in sweep.runs if r.config.seed == 0]
    by_base = {}
    for r in seed0:
        by_base.setdefault(r.flags[0], []).append(r)
    hybrids = by_base.pop("--config=configs/hybrid.py")
    lam = configs.hybrid.get_config().losses.adversarial_weight
    assert sorted((r.config.losses.adversarial_weight, r.config.model.flow.depth)
                  for r in hybrids) == sorted([(lam, 4), (round(0.3 * lam, 6), 4),
                                               (round(3 * lam, 6), 4), (lam, 0), (0.0, 4)])
    (dcgan,), (sngan,) = by_base["--config=configs/gan.py:cifar10"], \
        by_base["--config=configs/gan.py:sngan_cifar10"]
    (glow,) = by_base["--config=configs/flow.py:glow"]
    assert dcgan.config.method == sngan.config.method == "gan" and glow.config.method == "flow"
    assert sngan.config.model.arch == "sngan" and sngan.config.model.sngan_d_features == 32
    # Every arm reports the same sample metrics (one feature space); the likelihood models bpd.
    for run in seed0:
        assert {"fid", "kid", "precision", "recall", "density", "coverage"} <= set(
            run.config.eval.metrics)
        assert ("bpd" in run.config.eval.metrics) == (run.config.method != "gan")
    for run in sweep.runs:
        assert run.config.data.name == "patches" and run.config.train.num_steps == 3000
        assert "config" not in run.config.keys()  # The key picks the file; it is not a field.
    sweeps.check_builds(sweep.runs)
    # A field the run's own base lacks is an error naming the run.
    path = _sweep_file(tmp_path, "[{'config': 'configs/flow.py', 'model.g_hidden': (8,)}]",
                       fixed={})
    with pytest.raises(sweeps.SweepError, match=r"Run config-flow_g_hidden-8: Unknown config "
                                                r"field 'model.g_hidden'"):
        sweeps.load_sweep(path, str(tmp_path / "root"))
