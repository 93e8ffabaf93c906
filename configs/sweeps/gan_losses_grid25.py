"""GAN loss ablation on the 25-Gaussian grid: 4 matched D/G losses x 3 gradient penalties x 3 seeds.

  python -m experiments.sweep --sweep=configs/sweeps/gan_losses_grid25.py --workdir=/tmp/sweeps
"""

from genmodels.sweeps import product, seeds, zip_

LOSSES = ["non_saturating", "hinge", "wasserstein", "least_squares"]


NUM_STEPS = 2000  # The preset's 5,000 steps, cut to fit the whole sweep in ~40 min on 2 cores.


def base():
    return "configs/gan.py:grid25_plain"


def fixed():
    # 50 train steps per device call: the same result as single steps (tests/train/test_step.py)
    # with fewer dispatches for these small MLPs.
    return {"train.num_steps": NUM_STEPS, "train.steps_per_call": 50, "train.log_every": 250,
            "train.checkpoint_every": NUM_STEPS, "train.sample_every": NUM_STEPS,
            "eval.every": NUM_STEPS}


def sweep():
    # Each discriminator loss with its own generator loss (zipped, not crossed).
    losses = zip_({"losses.discriminator": LOSSES, "losses.generator": LOSSES})
    return product(losses, {"losses.penalty": ["none", "wgan_gp", "r1"]}, seeds(3))


def metrics():
    return ["modes", "hq_fraction", "reverse_kl"]
