"""Modes family: mode coverage of MODE_SAMPLES samples on the 2-D Gaussian mixtures
(genmodels.metrics.modes)."""

from genmodels import parallel
from genmodels.evaluation import common
from genmodels.evaluation.registry import Family, register
from genmodels.methods.base import sampling_variables
from genmodels.metrics.modes import mode_coverage
from genmodels.metrics.names import MODE_METRICS

MODE_SAMPLES = 2500  # The VEEGAN/PacGAN protocol draws 2,500 samples.


@register
class Modes(Family):
    name = "modes"
    metrics = MODE_METRICS
    rng_index = 1

    @staticmethod
    def requirement(method, info):
        if info is not None and info.modes is None:
            return f"dataset {info.name!r} is not a 2-D mixture (use data.name='ring8' or 'grid25')"
        return None

    def __init__(self, method, config, mesh, names, info):
        super().__init__(method, config, mesh, names, info)
        self._sample = common.jit_sample(method, parallel.replicated(mesh))

    def __call__(self, variables, rng, split):
        samples = parallel.to_host(self._sample(
            sampling_variables(self.method, variables), rng, MODE_SAMPLES))
        return mode_coverage(samples, self.info.modes, self.info.mode_std)
