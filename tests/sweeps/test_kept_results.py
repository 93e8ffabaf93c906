"""A sweep's evals.csv (every evaluation of each finished run) and the rows an aggregation keeps
from an earlier one's results files when the runs' workdirs are gone (--previous_results)."""

import csv
import shutil

import pytest

from genmodels import sweeps
from tests.sweeps.test_sweeps import _cli, _sweep_file, _write_records


def _sweep_with_records(tmp_path):
    """3 seeds with last_evals 2: seeds 0 and 1 finished (3 evaluations each), seed 2 still
    training (an evaluation short of train.num_steps = 2)."""
    path = _sweep_file(tmp_path, "seeds(3)", name="kept", extra="""
        def metrics():
            return ["modes", "hq_fraction", "train_minutes"]

        def last_evals():
            return 2
        """)
    sweep = sweeps.load_sweep(path, str(tmp_path / "root"))
    for seed, run in enumerate(sweep.runs[:2]):
        _write_records(run.workdir, {"step": 1, "split": "train", "steps_per_sec": 0.5},
                       *({"step": s, "split": "eval", "modes": 6 + s + seed,
                          "hq_fraction": 0.1 * s + 0.01 * seed} for s in (0, 1, 2)),
                       {"step": 2, "split": "train", "steps_per_sec": 1.0})
    _write_records(sweep.runs[2].workdir, {"step": 1, "split": "eval", "modes": 3,
                                           "hq_fraction": 0.0})
    return path, sweep


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_evals_csv_holds_every_evaluation_of_the_finished_runs(tmp_path):
    _, sweep = _sweep_with_records(tmp_path)
    paths = sweeps.aggregate(sweep)
    rows = _rows(paths["evals"])
    assert list(rows[0]) == ["id", "step", "modes", "hq_fraction"]
    # The run in progress has no evaluations here, as it has no results row.
    assert [(r["id"], int(r["step"])) for r in rows] == [
        (run.id, s) for run in sweep.runs[:2] for s in (0, 1, 2)]
    assert [float(r["modes"]) for r in rows] == [6, 7, 8, 7, 8, 9]
    assert float(rows[4]["hq_fraction"]) == pytest.approx(0.11)
    # The last-2 columns of results.csv are the mean of the last 2 rows of evals.csv.
    results = _rows(paths["csv"])
    assert float(results[1]["modes_last2"]) == pytest.approx((8 + 9) / 2)


def test_rows_of_runs_not_on_disk_are_kept_from_an_earlier_aggregation(tmp_path):
    _, sweep = _sweep_with_records(tmp_path)
    first = sweeps.aggregate(sweep)
    saved = tmp_path / "saved"
    saved.mkdir()
    shutil.copy(first["csv"], saved / "results.csv")
    shutil.copy(first["evals"], saved / "evals.csv")
    before = {k: open(first[k]).read() for k in ("csv", "evals")}
    md_before = open(first["md"]).read()

    shutil.rmtree(sweep.runs[0].workdir)  # Its workdir is gone; its rows are in saved/.
    previous = sweeps.read_previous(saved / "results.csv", saved / "evals.csv")
    assert set(previous) == {sweep.runs[0].id, sweep.runs[1].id}  # Seed 2 had no results.
    again = sweeps.aggregate(sweep, previous)
    assert {k: open(again[k]).read() for k in ("csv", "evals")} == before
    md = open(again["md"]).read()
    assert "1 of the runs with results are kept from an earlier aggregation" in md
    table_lines = [line for line in md.splitlines() if line.startswith("|")]
    assert table_lines == [line for line in md_before.splitlines() if line.startswith("|")]

    # Without the earlier files the run has no results; a run on disk wins over its kept row.
    assert _rows(sweeps.aggregate(sweep)["csv"])[0]["modes"] == ""
    _write_records(sweep.runs[0].workdir, {"step": 2, "split": "eval", "modes": 25,
                                           "hq_fraction": 0.9})
    rows = _rows(sweeps.aggregate(sweep, previous)["csv"])
    assert float(rows[0]["modes"]) == 25 and float(rows[1]["modes"]) == 9


def test_previous_results_from_the_command_line(tmp_path):
    path, sweep = _sweep_with_records(tmp_path)
    first = sweeps.aggregate(sweep)
    kept = tmp_path / "kept.csv"
    # A row of a run this sweep no longer has is left out, and said so.
    text = open(first["csv"]).read().rstrip("\n").splitlines()
    text.append("gone_run" + text[1][text[1].index(","):])
    kept.write_text("\n".join(text) + "\n")
    shutil.rmtree(sweep.runs[1].workdir)
    result = _cli(f"--sweep={path}", f"--workdir={tmp_path / 'root'}", "--aggregate_only",
                  f"--previous_results={kept}")
    assert result.returncode == 0, result.stderr
    assert "1 row(s) of" in result.stderr and "gone_run" in result.stderr
    rows = _rows(first["csv"])
    assert float(rows[1]["modes"]) == 9 and "gone_run" not in {r["id"] for r in rows}

    result = _cli(f"--sweep={path}", f"--workdir={tmp_path / 'root'}", "--aggregate_only",
                  f"--previous_evals={first['evals']}")
    assert result.returncode == 1 and "--previous_evals needs --previous_results" in result.stderr
    # A bad file fails before any run starts (no --aggregate_only: the sweep would train).
    result = _cli(f"--sweep={path}", f"--workdir={tmp_path / 'fresh'}",
                  f"--previous_results={tmp_path / 'missing.csv'}")
    assert result.returncode == 1 and "missing.csv does not exist" in result.stderr
    assert not (tmp_path / "fresh").exists()
    result = _cli(f"--sweep={path}", f"--workdir={tmp_path / 'root'}", "--aggregate_only",
                  f"--previous_results={tmp_path / 'root' / 'kept' / 'results.md'}")
    assert result.returncode == 1 and "header must start with 'id'" in result.stderr
