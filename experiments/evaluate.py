"""Evaluate a trained run, or report on several.

  python -m experiments.evaluate --workdir=W [--step=S] [--metrics=fid,precision,recall]
      [--iwae_k=K]
      writes W/eval/step_<S>.json (merged with that step's earlier results), and TensorBoard
      events plus W/eval/metrics.jsonl (split "eval"). --iwae_k evaluates the bpd of a
      latent-variable run with K importance samples instead of its eval.iwae_k (a tighter
      bound for larger K; the results record the k used).
  python -m experiments.evaluate --report W1 W2 ... [--out=DIR]
      coverage-vs-quality report: DIR/precision_recall.png, DIR/bpd_fid.png, DIR/report.md
      (DIR defaults to <common parent of the workdirs>/report); workdirs without an eval JSON of
      their latest checkpoint with the report metrics (nor an eval record of it, written by
      training, in W/metrics.jsonl) are evaluated first.
  python -m experiments.evaluate --compare A B [--metrics=fid,kid,precision,recall,density,
      coverage] [--features=inception]
      B against reference A (.npz with uint8 array x, or a folder of PNGs) on the FID Inception
      network (genmodels.metrics.compare); the last line of stdout is one JSON object.
  python -m experiments.evaluate --modes=grid25 W/samples/samples.npz
      mode coverage (modes, hq_fraction, reverse_kl) of the 2-D points in an .npz (array x
      [N, 2]) on ring8 or grid25, the metric of the trainer's evaluation; one JSON object.
"""

import json
import logging
import numbers
import os

import jax
from absl import app, flags
from absl import logging as absl_logging

from experiments import cli
from genmodels import api, evaluation
from genmodels import workdir as workdir_lib
from genmodels.evaluation.modes import points_coverage
from genmodels.metrics import compare
from genmodels.sweeps import report
from genmodels.train.writers import MetricsWriter

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
_METRICS = flags.DEFINE_list(
    "metrics", None, "Metric names (default: the run's eval.metrics); valid: "
    + ", ".join(sorted(evaluation.METRIC_FAMILIES)) + ".")
_REPORT = flags.DEFINE_bool("report", False, "Report on the workdirs given as arguments.")
_OUT = flags.DEFINE_string("out", None, "Report directory (--report).")
_COMPARE = flags.DEFINE_bool("compare", False, "Compare two image sets given as arguments.")
_FEATURES = flags.DEFINE_string("features", "inception", "Feature network of --compare.")
_MODES = flags.DEFINE_string("modes", None, "A 2-D mixture (ring8 | grid25): the mode coverage of "
                             "the points of the .npz given as argument.")
_IWAE_K = flags.DEFINE_integer("iwae_k", None, "Importance samples of the IWAE bound (default: "
                               "the run's eval.iwae_k; latent-variable methods only).")


def evaluate(workdir: str, step=None, metrics=None, iwae_k=None) -> dict:
    """evaluate_checkpoint, plus the numeric results to W/eval's TensorBoard and metrics.jsonl."""
    config = api.load_config(workdir)
    if iwae_k is not None:
        try:
            config = api.with_iwae_k(config, iwae_k)
        except ValueError as e:
            raise app.UsageError(f"--iwae_k: {e} Drop --iwae_k for this run.") from e
    results = api.evaluate_checkpoint(workdir, step, metrics, config)
    writer = MetricsWriter(str(workdir_lib.path(workdir) / workdir_lib.EVAL_DIR),
                           primary=jax.process_index() == 0, tensorboard=config.train.get("tensorboard", True))
    writer.write_scalars(results["step"], "eval", {
        k: v for k, v in results.items()
        if isinstance(v, numbers.Number) and k not in ("step",)})
    writer.close()
    return results


def main(argv):
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("genmodels").setLevel(logging.INFO)
    if _REPORT.value:
        workdirs = argv[1:]
        if not workdirs:
            raise app.UsageError("--report needs workdirs: --report W1 W2 ... [--out=DIR]")
        out = _OUT.value or os.path.join(os.path.commonpath(
            [os.path.abspath(w) for w in workdirs]), "report")
        result = report.write_report(workdirs, out, evaluate)
        print(result["table"])
        print("\n".join(f"{k}: {v}" for k, v in result["paths"].items()))
        return
    if _COMPARE.value:
        if len(argv) != 3:
            raise app.UsageError("--compare needs two image sets: --compare A B (each an .npz "
                                 "with array x or a folder of PNG images).")
        try:
            result = compare.compare(argv[1], argv[2], _METRICS.value or compare.METRICS,
                                     _FEATURES.value)
        except (ValueError, FileNotFoundError) as e:  # bad paths, arrays, names, no weights
            raise app.UsageError(str(e)) from e
        print(json.dumps(result, sort_keys=True))
        return
    if _MODES.value:
        if len(argv) != 2:
            raise app.UsageError("--modes needs one .npz of points: --modes=grid25 "
                                 "W/samples/samples.npz")
        try:
            print(json.dumps(points_coverage(argv[1], _MODES.value), sort_keys=True))
        except ValueError as e:
            raise app.UsageError(str(e)) from e
        return
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments {argv[1:]} (workdirs go with --report).")
    if _WORKDIR.value is None:
        raise app.UsageError("--workdir is required (or --report W1 W2 ...).")
    print(evaluate(_WORKDIR.value, _STEP.value, _METRICS.value, _IWAE_K.value))


if __name__ == "__main__":
    cli.run(main)
