"""Mode coverage on ring8 and grid25 (the adversarial-toolkit issue's table; PacGAN protocol):
GAN (non-saturating), WGAN-GP, PacGAN2, minibatch standard deviation, BGAN, M-BGAN and M-BGAN
with 4 mixed batches per D update, 5 seeds each, with the protocol's MLP nets and one budget of NUM_STEPS train steps for every run.

  python -m experiments.sweep --sweep=configs/sweeps/mode_coverage.py --workdir=ROOT --parallel=2

ROOT/mode_coverage/results.md has the mean +- std over seeds of modes, hq_fraction and
reverse_kl per (dataset, method); docs/adversarial.md compares it with the PacGAN table. Its
results files (benchmarks/results/mode_coverage*.csv) were written when the `_plain` presets were
named ring8 / grid25; their config column keeps those names.
"""

from genmodels.sweeps import seeds

NUM_STEPS = 1500  # The BGAN presets' budget: 70 runs fit in about half an hour on 2 cores.
DATASETS = ("ring8", "grid25")


def base():
    return "configs/gan.py:grid25_plain"


def fixed():
    return {"train.num_steps": NUM_STEPS, "train.steps_per_call": 50,
            "train.checkpoint_every": NUM_STEPS,
            "train.sample_every": NUM_STEPS, "train.log_every": 250, "eval.every": NUM_STEPS}


def _methods(dataset: str) -> list[dict]:
    gan, bgan = f"configs/gan.py:{dataset}_plain", f"configs/bgan.py:{dataset}_plain"
    return [
        {"config": gan},  # GAN, non-saturating.
        {"config": gan, "losses.discriminator": "wasserstein", "losses.generator": "wasserstein",
         "losses.penalty": "wgan_gp"},
        {"config": gan, "model.pack": 2},  # PacGAN2.
        {"config": gan, "model.stddev_group": 4},  # Minibatch standard deviation layer.
        {"config": bgan},
        {"config": bgan, "bgan.variant": "mbgan"},
        # M-BGAN with 4 mixed batches per D update (each a fresh ratio p over the same real and
        # fake batch): the best of a one-seed exploration of BGAN settings on grid25.
        {"config": bgan, "bgan.variant": "mbgan", "bgan.mixes_per_step": 4},
    ]


def sweep():
    return [{**m, **s} for d in DATASETS for m in _methods(d) for s in seeds(5)]


def metrics():
    return ["modes", "hq_fraction", "reverse_kl"]
