"""The hybrid model's ablation on `patches` (issue 6; Lucas et al. 2019, Table 2's argument):
full hybrid; no flow (pixel-space Gaussian VAE + adversarial); no adversarial term (flow-VAE by
likelihood only); plus a pure GAN (DCGAN) and a pure flow (Glow) on the same data, batch size and
number of steps.

  python -m experiments.sweep --sweep=configs/sweeps/hybrid_ablation.py --workdir=ROOT
  python -m experiments.evaluate --report ROOT/hybrid_ablation/* --out=ROOT/report

The sweep aggregates the final test bpd (the GAN has none); the report adds FID, precision,
recall, density and coverage of every run on one feature space (docs/evaluation.md).
"""

from genmodels.sweeps import seeds

NUM_STEPS = 3000


def base():
    return "configs/hybrid.py"


def fixed():
    return {"data.name": "patches", "data.batch_size": 64, "train.num_steps": NUM_STEPS,
            "train.checkpoint_every": NUM_STEPS // 3, "eval.every": NUM_STEPS}


def sweep():
    hybrid = "configs/hybrid.py"
    settings = [
        {"config": hybrid},  # The full hybrid.
        {"config": hybrid, "model.flow.depth": 0},  # No flow: pixel-space VAE + adversarial.
        {"config": hybrid, "losses.adversarial_weight": 0.0},  # Flow-VAE by likelihood only.
        {"config": "configs/gan.py"},  # Pure GAN (DCGAN, non-saturating).
        {"config": "configs/flow.py:glow"},  # Pure flow (Glow).
    ]
    return [{**s, **seed} for s in settings for seed in seeds(1)]


def metrics():
    return ["bpd"]
