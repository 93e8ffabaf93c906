"""Run a sweep of configs (one experiments.main subprocess per run) and aggregate its results.

  python -m experiments.sweep --sweep=configs/sweeps/gan_losses_grid25.py --workdir=/tmp/sweeps
  python -m experiments.sweep --sweep=... --workdir=... --parallel=2 --only=hinge
  python -m experiments.sweep --sweep=... --workdir=... --print_commands > jobs.txt
  python -m experiments.sweep --sweep=... --workdir=... --aggregate_only

Runs go to ROOT/<sweep name>/<run id>/ with their output in log.txt; results.csv, results.md and
plots/ to ROOT/<sweep name>/. See docs/sweeps.md.
"""

import sys

from absl import app, flags

from experiments import cli
from genmodels import sweeps

_SWEEP = flags.DEFINE_string("sweep", None, "Sweep file, e.g. configs/sweeps/NAME.py.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Root directory; runs go to ROOT/<sweep name>/.")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time (threads are split between them).",
                                 lower_bound=1)
_PRINT = flags.DEFINE_boolean("print_commands", False,
                              "Print one command line per run and run nothing.")
_ONLY = flags.DEFINE_multi_string("only", [], "Only the runs whose id contains this substring "
                                  "(repeat for several).")
_AGGREGATE_ONLY = flags.DEFINE_boolean("aggregate_only", False,
                                       "Write the results of the runs on disk; run nothing.")
flags.mark_flags_as_required(["sweep", "workdir"])


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
        failed = []
        if not _AGGREGATE_ONLY.value:
            sweeps.check_builds(runs)
            cores = sweeps.available_cores()
            threads = sweeps.thread_env(_PARALLEL.value, cores).get("NPROC")
            _err(f"Sweep {sweep.name}: {len(runs)} run(s) in {sweep.root}, {_PARALLEL.value} at a "
                 f"time" + (f", {threads} thread(s) each of {cores} cores." if threads else "."))
            outcomes = sweeps.run_all(runs, _PARALLEL.value, log=_err)
            failed = [o for o in outcomes if o.status == "failed"]
        paths = sweeps.aggregate(sweep)
        _err(f"Results: {paths['md']}, {paths['csv']}" +
             (f", {len(paths['plots'])} plot(s) in {sweep.root}/plots" if paths["plots"] else ""))
    except sweeps.SweepError as e:
        sys.exit(f"Error: {e}")
    if failed:
        _err(f"{len(failed)} of {len(runs)} run(s) failed:")
        for o in failed:
            _err(f"  {o.run.id} (exit {o.returncode}): see {o.run.workdir}/log.txt")
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main)
