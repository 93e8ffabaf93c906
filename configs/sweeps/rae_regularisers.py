"""RAE regularisers on digits: none / l2 / gp / spectral_norm x 3 seeds, plus the plain AE's
setting (beta = 0) as regulariser none with beta 0.

  python -m experiments.sweep --sweep=configs/sweeps/rae_regularisers.py --workdir=/tmp/sweeps

recon (test pixel MSE on [0, 1]) and psnr (dB) from the final eval record.
"""

from genmodels.sweeps import chain, product, seeds, zip_

# Each regulariser with its own lambda (model.reg_weight; unused by none and spectral_norm).
REGULARIZERS = ["none", "l2", "gp", "spectral_norm"]
WEIGHTS = [0.0, 1e-4, 1e-2, 0.0]


def base():
    return "configs/rae.py"


def sweep():
    regularised = product(zip_({"model.regularizer": REGULARIZERS,
                                "model.reg_weight": WEIGHTS}), seeds(3))
    plain_ae = product({"model.regularizer": ["none"], "model.reg_weight": [0.0],
                        "model.beta": [0.0]}, seeds(3))
    return chain(regularised, plain_ae)


def metrics():
    return ["recon", "psnr"]
