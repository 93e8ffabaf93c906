"""Train, evaluate or sample a genmodels config.

  python -m experiments.main --config=configs/vae.py --workdir=/tmp/vae
  python -m experiments.main --config=configs/gan.py:cifar10 --workdir=W --config.train.num_steps=10
  python -m experiments.main --config=configs/vae.py --workdir=/tmp/vae --mode=sample --num_samples=64

Errors a user caused (config, workdir state) print one message and exit 2; --traceback (or
GENMODELS_TRACEBACK=1) shows the traceback (experiments/cli.py, docs/workdir.md).
"""

import logging

from absl import flags
from absl import logging as absl_logging
from ml_collections import config_flags

from experiments import cli
from genmodels import api
from genmodels.train import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file[:preset].",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (DESIGN.md §4).")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval", "sample"], "What to do.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 64, "Samples to write in --mode=sample.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    # Our progress lines at INFO; libraries (orbax is chatty) at WARNING.
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("genmodels").setLevel(logging.INFO)
    config = _CONFIG.value
    if _MODE.value == "train":
        loop.train_and_evaluate(config, _WORKDIR.value)
    elif _MODE.value == "eval":
        print(api.evaluate_checkpoint(_WORKDIR.value, config=config))
    else:
        print(api.write_samples(_WORKDIR.value, _NUM_SAMPLES.value, seed=config.seed,
                                config=config))


if __name__ == "__main__":
    cli.run(main)
