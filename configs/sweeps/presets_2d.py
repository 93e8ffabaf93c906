"""The 2-D presets as shipped, at their own budgets (issue 26): `configs/gan.py:ring8` / `grid25`
and `configs/bgan.py:ring8` / `grid25`, nothing overridden but the seed, 3 seeds
each. Each must reach the protocol's quality (docs/adversarial.md) in at most 20 minutes on the
2-core CPU, so run it one run at a time, with nothing else on the machine, for train_minutes to
be a run's time alone:

  python -m experiments.sweep --sweep=configs/sweeps/presets_2d.py --workdir=ROOT --parallel=1
"""

from genmodels.sweeps import seeds

PRESETS = ("configs/gan.py:grid25", "configs/bgan.py:grid25", "configs/gan.py:ring8",
           "configs/bgan.py:ring8")
LAST_EVALS = 5


def base():
    return PRESETS[0]


def sweep():
    return [{"config": preset, **seed} for preset in PRESETS for seed in seeds(3)]


def metrics():
    return ["modes", "hq_fraction", "reverse_kl", "train_minutes"]


def last_evals():
    return LAST_EVALS
