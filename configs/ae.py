"""Plain deterministic autoencoder, L = ||x - D(E(x))||^2, sampled from an ex-post GMM on the
training codes: configs/rae.py with beta = 0 and no regulariser (docs/vae_family.md).

  python -m experiments.main --config=configs/ae.py --workdir=/tmp/ae
"""

from configs import default, rae


def get_config(arg=None):
    c = default.select_preset({"default": rae.get_config}, arg, "configs/ae.py")()
    c.method = "ae"
    c.model.beta = 0.0
    c.model.regularizer = "none"
    c.model.reg_weight = 0.0
    return c
