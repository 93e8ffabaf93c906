"""Evaluate a trained run: writes W/eval/step_<S>.json.

  python -m experiments.evaluate --workdir=W [--step=S] [--metrics=bpd]
"""

from absl import app, flags

from genmodels import api

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")
_METRICS = flags.DEFINE_list("metrics", None, "Metric names (default: the run's eval.metrics).")
flags.mark_flag_as_required("workdir")


def main(argv):
    del argv
    print(api.evaluate_checkpoint(_WORKDIR.value, _STEP.value, _METRICS.value))


if __name__ == "__main__":
    app.run(main)
