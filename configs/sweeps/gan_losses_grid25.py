"""GAN loss ablation on the 25-Gaussian grid: 4 matched D/G losses x 3 gradient penalties x 3 seeds.

  python -m experiments.sweep --sweep=configs/sweeps/gan_losses_grid25.py --workdir=/tmp/sweeps
"""

from genmodels.sweeps import product, seeds, zip_

LOSSES = ["non_saturating", "hinge", "wasserstein", "least_squares"]


def base():
    return "configs/gan.py:grid25"


def sweep():
    # Each discriminator loss with its own generator loss (zipped, not crossed).
    losses = zip_({"losses.discriminator": LOSSES, "losses.generator": LOSSES})
    return product(losses, {"losses.penalty": ["none", "wgan_gp", "r1"]}, seeds(3))


def metrics():
    return ["modes", "hq_fraction", "reverse_kl"]
