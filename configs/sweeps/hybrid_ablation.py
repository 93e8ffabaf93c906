"""The hybrid model's ablation on `patches` (Lucas et al. 2019, Table 2's argument), 3 seeds per
arm: the full hybrid at the default lambda, lambda x0.3 and x3, no flow (pixel-space Gaussian
VAE + adversarial), likelihood only (the flow-VAE without a discriminator), and on the same data,
batch size and number of generator steps two pure GANs (DCGAN at base width 64; SNGAN: ResNets
at 16 px with spectral norm, hinge loss and 5 D steps per G step, widths 1/8 (G) and 1/4 (D) of
the paper's to fit the CPU) and a pure flow (Glow).

  python -m experiments.sweep --sweep=configs/sweeps/hybrid_ablation.py --workdir=ROOT

Every run is evaluated once, at the end, on the same metrics: test bpd (IWAE k = 20 where the
model has a latent; the GANs have none) and the sample metrics of 10,000 samples against the
train split in one feature space (eval.features=auto: randconv at 16 px, so fd_randconv and
kid_randconv; precision, recall, density and coverage on uniform random subsets;
docs/evaluation.md). ROOT/hybrid_ablation/results.csv and results.md hold the mean ± std over
seeds, with each run's train_minutes (the main job's 15-minute budget); docs/hybrid.md reads
them.
"""

from configs import hybrid
from genmodels.sweeps import seeds

NUM_STEPS = 3000
SNGAN_WIDTH = 32  # The paper's G base is 256, D base 128.
LAMBDA = hybrid.get_config().losses.adversarial_weight  # The default, per sub-pixel.
SAMPLE_METRICS = ("fid", "kid", "precision", "recall", "density", "coverage")


def base():
    return "configs/hybrid.py"


def fixed():
    return {"data.name": "patches", "data.batch_size": 64, "train.num_steps": NUM_STEPS,
            "train.checkpoint_every": NUM_STEPS // 3, "eval.every": NUM_STEPS}


def arms():
    hybrid_config = "configs/hybrid.py"
    return [
        {"config": hybrid_config},  # The full hybrid at the default lambda.
        {"config": hybrid_config, "losses.adversarial_weight": round(0.3 * LAMBDA, 6)},
        {"config": hybrid_config, "losses.adversarial_weight": round(3 * LAMBDA, 6)},
        {"config": hybrid_config, "model.flow.depth": 0},  # No flow.
        {"config": hybrid_config, "losses.adversarial_weight": 0.0},  # Likelihood only.
        # Pure GAN: the DCGAN of the cifar10 preset (base width 64), non-saturating loss.
        {"config": "configs/gan.py:cifar10", "eval.metrics": SAMPLE_METRICS},
        {"config": "configs/gan.py:sngan_cifar10", "model.sngan_g_features": SNGAN_WIDTH,
         "model.sngan_d_features": SNGAN_WIDTH, "eval.metrics": SAMPLE_METRICS},
        {"config": "configs/flow.py:glow", "eval.metrics": ("bpd",) + SAMPLE_METRICS},
    ]


def sweep():
    return [{**arm, **seed} for arm in arms() for seed in seeds(3)]


def metrics():
    return ["bpd", "fd_randconv", "kid_randconv", "precision", "recall", "density", "coverage",
            "train_minutes"]
