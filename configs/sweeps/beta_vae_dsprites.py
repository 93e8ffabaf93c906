"""beta-VAE on procedural dSprites (32x32, configs/betavae.py): beta in {1, 2, 4, 8, 16} x 3
seeds, scored by MIG (Chen et al. 2018) and the ELBO terms.

  python -m experiments.sweep --sweep=configs/sweeps/beta_vae_dsprites.py --workdir=/tmp/sweeps

The base config evaluates elbo, kl, recon (test ELBO terms, eval.iwae_k=1) and mig.
"""

from genmodels.sweeps import product, seeds


def base():
    return "configs/betavae.py"


def sweep():
    return product({"model.beta": [1.0, 2.0, 4.0, 8.0, 16.0]}, seeds(3))


def metrics():
    return ["mig", "elbo", "kl", "recon"]
