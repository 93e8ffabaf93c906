"""experiments.sweep --launcher=submitit_local: one job array through submitit's LocalExecutor
(the SLURM launcher's code path, with real jobs on this machine), aggregation of results.csv
after the jobs, and a re-submission that skips finished runs."""

import csv
import json
import os
import shutil

import pytest

from genmodels import sweeps
from tests.sweeps.test_sweeps import _cli, _sweep_file

pytest.importorskip("submitit")  # In the dev extra; optional for users (the slurm extra).


def test_submitit_local_sweep_aggregates_and_resubmission_skips_finished_runs(tmp_path):
    path = _sweep_file(tmp_path, "seeds(2)")
    root = tmp_path / "root"
    first = _cli(f"--sweep={path}", f"--workdir={root}", "--launcher=submitit_local")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Submitted 2 run(s) as job array" in first.stderr
    done, cut = root / "tiny" / "seed-0", root / "tiny" / "seed-1"
    assert sweeps.is_finished(str(done)) and sweeps.is_finished(str(cut))
    manifest = json.loads((root / "tiny" / "submitted.json").read_text())
    assert sorted(manifest["jobs"]) == ["seed-0", "seed-1"]
    assert os.path.isdir(manifest["folder"])  # submitit's job files: ROOT/<sweep>/submitit.
    with open(root / "tiny" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == ["seed-0", "seed-1"] and all(r["step"] == "2" for r in rows)
    assert "modes" in rows[0] and all(r["modes"] for r in rows)

    # seed-1 was cut before its final checkpoint: a re-submission (the CLI's library calls, here
    # in-process) submits only it, and it resumes.
    untouched = {n: os.stat(done / n).st_mtime_ns for n in ("log.txt", "metrics.jsonl")}
    shutil.rmtree(cut / "checkpoints" / "2")
    os.remove(root / "tiny" / "results.csv")
    sweep, lines = sweeps.load_sweep(path, str(root)), []
    executor = sweeps.make_executor("submitit_local", manifest["folder"], {})
    skipped, submitted = sweeps.submit(sweep, sweep.runs, executor, log=lines.append)
    assert [o.run.id for o in skipped] == ["seed-0"] and [r.id for r, _ in submitted] == ["seed-1"]
    assert lines[0] == "skipped 1 finished run(s) of 2"
    assert sorted(json.loads((root / "tiny" / "submitted.json").read_text())["jobs"]) == [
        "seed-1"]
    assert [o.status for o in sweeps.wait(submitted, log=lines.append)] == ["ok"]
    assert sweeps.is_finished(str(cut))
    assert {n: os.stat(done / n).st_mtime_ns for n in untouched} == untouched
    assert (cut / "log.txt").read_text().count("=== ") == 2
    with open(sweeps.aggregate(sweep)["csv"]) as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["2", "2"]


def test_slurm_launcher_submits_one_job_array_with_the_sbatch_options(tmp_path):
    """Without a cluster: fake `srun` and `sbatch` on PATH; sbatch keeps the script it gets."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\ncp \"$1\" {tmp_path}/job.sh\n"
                                    "echo Submitted batch job 4242\n")
    for name in ("srun", "sbatch"):
        os.chmod(bin_dir / name, 0o755)
    path = _sweep_file(tmp_path, "seeds(2)")
    root = tmp_path / "root"
    result = _cli(f"--sweep={path}", f"--workdir={root}", "--launcher=slurm",
                  "--slurm.partition=gpu", "--slurm.gpus_per_task=1", "--slurm.time=240",
                  env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Submitted 2 run(s) as job array 4242" in result.stderr
    assert "--aggregate_only" in result.stderr  # It did not wait: nothing ran.
    script = (tmp_path / "job.sh").read_text()
    for option in ("--array=0-1%2", "--partition=gpu", "--gpus-per-task=1", "--time=240",
                   "--job-name=sweep-tiny"):
        assert f"#SBATCH {option}\n" in script
    assert "--mem" not in script and "--account" not in script  # Unset: SLURM's defaults.
    assert json.loads((root / "tiny" / "submitted.json").read_text())["jobs"] == {
        "seed-0": "4242_0", "seed-1": "4242_1"}
    assert not (root / "tiny" / "seed-0").exists()


def test_missing_submitit_and_remote_job_folder_are_named(tmp_path, monkeypatch):
    with pytest.raises(sweeps.SweepError, match="--submitit_dir"):
        sweeps.make_executor("slurm", "gs://bucket/sweeps/x/submitit", {})
    monkeypatch.setitem(__import__("sys").modules, "submitit", None)
    with pytest.raises(sweeps.SweepError, match=r"pip install 'genmodels\[slurm\]'"):
        sweeps.make_executor("slurm", str(tmp_path), {})
