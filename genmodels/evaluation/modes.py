"""Modes family: mode coverage of MODE_SAMPLES samples on the 2-D Gaussian mixtures
(genmodels.metrics.modes)."""

import numpy as np
from etils import epath

from genmodels import parallel
from genmodels.data import embedded
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


def load_points(path: str, dataset: str) -> np.ndarray:
    """The points [N, 2] of .npz file `path` (array x in data space, as `experiments.main
    --mode=sample` writes to W/samples/samples.npz), to be scored on mixture `dataset`.
    ValueError names a bad dataset, file or array."""
    if dataset not in embedded.POINT_DATASETS:
        raise ValueError(f"Mode coverage is defined on the 2-D mixtures "
                         f"{', '.join(embedded.POINT_DATASETS)}; got {dataset!r}.")
    file = epath.Path(path)
    if not file.is_file():
        raise ValueError(f"{path} is not a file (expected an .npz with array x of shape [N, 2]).")
    with np.load(file.open("rb")) as npz:
        if "x" not in npz:
            raise ValueError(f"{path} has no array x (arrays: {', '.join(npz.files)}).")
        x = np.asarray(npz["x"], np.float64)
    finite = bool(np.isfinite(x).all())
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0 or not finite:
        raise ValueError(f"x in {path} must be finite 2-D points [N, 2] with N > 0; got shape "
                         f"{x.shape}{'' if finite else ' with non-finite values'}.")
    return x


def points_coverage(path: str, dataset: str) -> dict:
    """mode_coverage of the points in .npz file `path` (`load_points`) on mixture `dataset`. The
    same metric as the trainer's evaluation, on a file's points, so a run's written samples can
    be checked. ValueError names a bad dataset, file or array."""
    x = load_points(path, dataset)
    info = embedded.points_info(dataset)
    return mode_coverage(x, info.modes, info.mode_std)
