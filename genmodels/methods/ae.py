"""Plain deterministic autoencoder: the RAE objective with beta = 0 and no regulariser,
  L(x) = ||x - D(E(x))||^2,
sampled, like the RAE, from an ex-post density fitted on the training codes (model.density).
It is a separate name so that runs and sweeps say what they train; its config must not ask
for RAE terms (use method=rae for those).
"""

from genmodels.methods import rae
from genmodels.methods.base import Method

CONFIG_FIELDS = rae.CONFIG_FIELDS  # The RAE with no regulariser: the same fields.


def build(config, info) -> Method:
    m = config.model
    if m.regularizer != "none" or m.beta != 0:
        raise ValueError(f"The ae method has no latent penalty or regulariser; got "
                         f"model.beta={m.beta!r}, model.regularizer={m.regularizer!r} (valid: "
                         "0 and 'none'). Use method=rae (configs/rae.py) for a regularised AE.")
    return rae.build(config, info, name="ae")
