"""Sweeps: grids of config overrides, each run an `experiments.main` command, run locally or as a
SLURM job array, and the results aggregated over seeds into tables and plots (docs/sweeps.md).

  specification  the sweep-file DSL (product, zip_, chain, seeds), load_sweep, Run, Sweep
  overrides      parse_config, apply_overrides, the command-line round trip, run ids
  runner         the local scheduler (run_all), the submitit launcher (SLURM, local executor)
  tables         results.csv / evals.csv / results.md / plots, mean ± std, rows kept from an
                 earlier aggregation; shared with the report
  report         the cross-run coverage-vs-quality report (experiments.evaluate --report)
"""

from genmodels.sweeps.overrides import (BASE_KEY, SEED, SweepError, apply_overrides, canonical,
                                        canonical_value, format_value, load_base, override_flags,
                                        parse_config, run_ids)
from genmodels.sweeps.runner import (Outcome, RunFailed, RunTask, available_cores, make_executor,
                                     run_all, saved_config_drift, submit, thread_env, wait)
from genmodels.sweeps.specification import (Run, Sweep, build_run, chain, check_builds,
                                            load_sweep, product, seeds, select, zip_)
from genmodels.sweeps.tables import (KeptRun, Table, aggregate, collect, mean_std,
                                     numeric_metrics, read_previous, summary_cell, write_csv,
                                     write_evals_csv, write_markdown, write_plots)
from genmodels.workdir import final_record, is_finished

__all__ = [
    "BASE_KEY", "SEED", "SweepError", "apply_overrides", "canonical", "canonical_value",
    "format_value", "load_base", "override_flags", "parse_config", "run_ids",
    "Outcome", "RunFailed", "RunTask", "available_cores", "make_executor", "run_all",
    "saved_config_drift", "submit", "thread_env", "wait",
    "Run", "Sweep", "build_run", "chain", "check_builds", "load_sweep", "product", "seeds",
    "select", "zip_",
    "KeptRun", "Table", "aggregate", "collect", "mean_std", "numeric_metrics", "read_previous",
    "summary_cell", "write_csv", "write_evals_csv", "write_markdown", "write_plots",
    "final_record", "is_finished",
]
