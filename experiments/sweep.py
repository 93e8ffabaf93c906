"""Run a sweep of configs (each run one experiments.main command) and aggregate its results.

  python -m experiments.sweep --sweep=configs/sweeps/gan_losses_grid25.py --workdir=/tmp/sweeps
  python -m experiments.sweep --sweep=... --workdir=... --parallel=2 --only=hinge
  python -m experiments.sweep --sweep=... --workdir=... --print_commands > jobs.txt
  python -m experiments.sweep --sweep=... --workdir=... --aggregate_only
  python -m experiments.sweep --sweep=... --workdir=... --launcher=slurm \
      --slurm.partition=gpu --slurm.gpus_per_task=1 --slurm.time=240

Runs go to ROOT/<sweep name>/<run id>/ with their output in log.txt; results.csv, evals.csv (every
evaluation of each run), results.md and plots/ to ROOT/<sweep name>/. --previous_results (and
--previous_evals) keep the rows of an earlier aggregation for runs whose workdirs are gone.
--launcher=slurm submits the unfinished runs as one job array (submitit) and returns; run the
same command with --aggregate_only when the jobs are done, or add --wait. See docs/sweeps.md.
"""

import os
import sys

from absl import app, flags
from ml_collections import config_dict, config_flags

from experiments import cli
from genmodels import sweeps

_SWEEP = flags.DEFINE_string("sweep", None, "Sweep file, e.g. configs/sweeps/NAME.py.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Root directory; runs go to ROOT/<sweep name>/.")
_LAUNCHER = flags.DEFINE_enum("launcher", "local", ["local", "slurm", "submitit_local"],
                              "local: subprocesses here (--parallel at a time); slurm: one SLURM "
                              "job array through submitit; submitit_local: submitit's local "
                              "executor, every task at once on this machine (to check the "
                              "SLURM path on a small sweep).")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time (threads are split between them).",
                                 lower_bound=1)
_PRINT = flags.DEFINE_boolean("print_commands", False,
                              "Print one command line per run and run nothing.")
_ONLY = flags.DEFINE_multi_string("only", [], "Only the runs whose id contains this substring "
                                  "(repeat for several).")
_AGGREGATE_ONLY = flags.DEFINE_boolean("aggregate_only", False,
                                       "Write the results of the runs on disk; run nothing.")
_PREVIOUS_RESULTS = flags.DEFINE_string(
    "previous_results", None, "A results.csv an earlier aggregation of this sweep wrote (e.g. "
    "benchmarks/results/NAME.csv): runs with no records on disk keep their row from it.")
_PREVIOUS_EVALS = flags.DEFINE_string(
    "previous_evals", None, "The evals.csv of the same aggregation (needs --previous_results): "
    "those runs keep their evaluations in the new evals.csv.")
_WAIT = flags.DEFINE_boolean("wait", None, "submitit launchers: wait for the jobs, then aggregate "
                             "(default: yes for submitit_local, no for slurm).")
_SUBMITIT_DIR = flags.DEFINE_string("submitit_dir", None, "submitit's job files (a local or "
                                    "shared directory; default ROOT/<sweep name>/submitit).")
# sbatch options by submitit.SlurmExecutor's names; empty or 0: SLURM's default.
_SLURM = config_flags.DEFINE_config_dict("slurm", config_dict.ConfigDict(dict(
    partition="", time=60, gpus_per_task=0, cpus_per_task=0, mem="", account="", qos="",
    constraint="", array_parallelism=256)), "sbatch options of --launcher=slurm (time: minutes).")
flags.mark_flags_as_required(["sweep", "workdir"])


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _launch(sweep, runs) -> list:
    """Runs or submits `runs`; returns the outcomes known now (all of them when it waited)."""
    if _LAUNCHER.value == "local":
        cores = sweeps.available_cores()
        threads = sweeps.thread_env(_PARALLEL.value, cores).get("NPROC")
        _err(f"Sweep {sweep.name}: {len(runs)} run(s) in {sweep.root}, {_PARALLEL.value} at a "
             f"time" + (f", {threads} thread(s) each of {cores} cores." if threads else "."))
        return sweeps.run_all(runs, _PARALLEL.value, log=_err)
    folder = _SUBMITIT_DIR.value or os.path.join(sweep.root, "submitit")
    params = ({"job_name": f"sweep-{sweep.name}", **_SLURM.value.to_dict()}
              if _LAUNCHER.value == "slurm" else {})
    executor = sweeps.make_executor(_LAUNCHER.value, folder, params)
    skipped, submitted = sweeps.submit(sweep, runs, executor, log=_err)
    wait = _WAIT.value if _WAIT.value is not None else _LAUNCHER.value == "submitit_local"
    if submitted and not wait:
        _err(f"When the jobs are done: python -m experiments.sweep --sweep={_SWEEP.value} "
             f"--workdir={_WORKDIR.value} --aggregate_only (a re-submission skips finished runs).")
        return None
    return skipped + sweeps.wait(submitted, log=_err)


def _previous(sweep) -> dict | None:
    """The rows of --previous_results / --previous_evals that are runs of this sweep."""
    if _PREVIOUS_EVALS.value and not _PREVIOUS_RESULTS.value:
        raise sweeps.SweepError("--previous_evals needs --previous_results (the results.csv of "
                                "the same aggregation).")
    if not _PREVIOUS_RESULTS.value:
        return None
    previous = sweeps.read_previous(_PREVIOUS_RESULTS.value, _PREVIOUS_EVALS.value)
    ids = {run.id for run in sweep.runs}
    foreign = sorted(previous.keys() - ids)
    if foreign:
        _err(f"{len(foreign)} row(s) of {_PREVIOUS_RESULTS.value} are not runs of this sweep, "
             f"left out: {', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}")
    return {k: v for k, v in previous.items() if k in ids}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        sweep = sweeps.load_sweep(_SWEEP.value, _WORKDIR.value)
        runs = sweeps.select(sweep.runs, _ONLY.value)
        if _PRINT.value:
            for run in runs:
                print(run.command())
            return
        previous = _previous(sweep)  # Read first: a bad file fails before any run starts.
        outcomes = []
        if not _AGGREGATE_ONLY.value:
            sweeps.check_builds(runs)
            outcomes = _launch(sweep, runs)
            if outcomes is None:
                return
        paths = sweeps.aggregate(sweep, previous)
        _err(f"Results: {paths['md']}, {paths['csv']}" +
             (f", {len(paths['plots'])} plot(s) in {sweep.root}/plots" if paths["plots"] else ""))
    except sweeps.SweepError as e:
        sys.exit(f"Error: {e}")
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        _err(f"{len(failed)} of {len(runs)} run(s) failed:")
        for o in failed:
            _err(f"  {o.run.id} (exit {o.returncode}): see {o.run.workdir}/log.txt")
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main)
