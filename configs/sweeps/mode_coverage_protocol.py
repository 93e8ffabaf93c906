"""Mode coverage on ring8 and grid25 with the published protocol's training details (issue 26):
GAN, PacGAN2, PacGAN4, minibatch standard deviation, BGAN, M-BGAN and M-BGAN with 4 mixed
batches per D update, on the `_protocol` presets of configs/gan.py and configs/bgan.py (Adam
beta1 0.2, simultaneous updates, N(0, 0.02) weights, batch norm 1e-4 / 0.95; docs/adversarial.md)
with what configs/sweeps/protocol_schedule.py found to raise the high-quality share of both the
GAN and M-BGAN: an EMA generator (0.99, standing statistics) and both learning rates decayed
linearly to 0 over the second half (the shipped presets' `configs/gan.py:annealed`), 5 seeds each,
one budget of NUM_STEPS steps for every run.

  python -m experiments.sweep --sweep=configs/sweeps/mode_coverage_protocol.py --workdir=ROOT \
      --parallel=2

Every run evaluates modes, hq_fraction and reverse_kl on 2,500 samples every 1,000 steps (the
ablation's budget and schedule, protocol_ablation.fixed()).
ROOT/mode_coverage_protocol/results.md has the final evaluation and the mean over the last
LAST_EVALS evaluations (M_last<K>), each as mean ± std over seeds, so that one lucky
evaluation cannot carry a row. The published rows (PacGAN, 10 trials, ~400k steps) are in
docs/adversarial.md. The 1,500-step table of configs/sweeps/mode_coverage.py, with the plain
presets, is kept and labelled as such.
"""

from configs.sweeps import protocol_schedule
from genmodels.sweeps import seeds

NUM_STEPS = protocol_schedule.NUM_STEPS  # The ablation's budget, 30,000 steps.
LAST_EVALS = 5  # The mean over steps 26k-30k.
DATASETS = ("ring8", "grid25")


def base():
    return "configs/gan.py:grid25_protocol"


def fixed():
    return {**protocol_schedule.fixed(), **protocol_schedule.EMA, **protocol_schedule.DECAY}


def methods(dataset: str) -> list[dict]:
    gan, bgan = f"configs/gan.py:{dataset}_protocol", f"configs/bgan.py:{dataset}_protocol"
    return [
        {"config": gan},  # GAN, non-saturating.
        # PacGAN-m: as in PacGAN's code, 100 rows of m points per D input batch, so the real
        # and fake batches hold 100 m points (model.pack splits data.batch_size into rows).
        {"config": gan, "model.pack": 2, "data.batch_size": 200},  # PacGAN2.
        {"config": gan, "model.pack": 4, "data.batch_size": 400},  # PacGAN4.
        {"config": gan, "model.stddev_group": 4},  # Minibatch standard deviation layer.
        {"config": bgan},
        {"config": bgan, "bgan.variant": "mbgan"},
        {"config": bgan, "bgan.variant": "mbgan", "bgan.mixes_per_step": 4},
    ]


def sweep():
    return [{**m, **s} for d in DATASETS for m in methods(d) for s in seeds(5)]


def metrics():
    return ["modes", "hq_fraction", "reverse_kl"]


def last_evals():
    return LAST_EVALS
