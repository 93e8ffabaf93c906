"""genmodels: deep generative models of images in JAX/Flax.

    model = genmodels.load("/path/to/workdir")
    images = model.sample(16, seed=0)
"""

__version__ = "0.1.0"


def load(workdir: str, step: int | None = None):
    """Restores a trained run (see genmodels.api.TrainedModel)."""
    from genmodels import api

    return api.load(workdir, step)
