"""experiments.evaluate --modes: the trainer's mode-coverage metric on the points of an .npz (a
run's W/samples/samples.npz), so that a run's written samples can be checked."""

import json
import subprocess
import sys

import numpy as np
import pytest

from genmodels.data import embedded
from genmodels.evaluation.modes import points_coverage
from genmodels.metrics.modes import mode_coverage
from tests.helpers import REPO


def _save(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_the_datas_own_points_cover_every_mode_at_the_gaussian_rate(tmp_path):
    """Points of grid25 itself: every mode covered, and the high-quality share is the chance that
    a 2-D standard normal lies within radius 3, 1 - exp(-9/2) = 0.98889, up to binomial noise."""
    x = embedded.points_source("grid25", "test").arrays["x"]
    result = points_coverage(_save(tmp_path / "s.npz", x=x), "grid25")
    assert result["modes"] == 25 and result["modes_num_samples"] == len(x) == 10_000
    expected = 1 - np.exp(-4.5)
    assert abs(result["hq_fraction"] - expected) < 4 * np.sqrt(expected * (1 - expected) / len(x))
    assert 0 <= result["reverse_kl"] < 0.01  # A near-uniform histogram over the 25 modes.
    # The same numbers as the trainer's metric, whatever the order of the points.
    info = embedded.points_info("grid25")
    shuffled = np.random.default_rng(0).permutation(x)
    assert result == pytest.approx(mode_coverage(shuffled, info.modes, info.mode_std))


def test_cli_prints_the_coverage_of_a_samples_file(tmp_path):
    """All samples on one ring8 mode: 1 mode, all high quality, reverse KL ln 8."""
    path = _save(tmp_path / "samples.npz", x=np.tile([[1.0, 0.0]], (100, 1)).astype(np.float32))
    out = subprocess.run([sys.executable, "-m", "experiments.evaluate", "--modes=ring8", path],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["modes"] == 1 and result["hq_fraction"] == 1.0
    assert result["reverse_kl"] == pytest.approx(np.log(8))
    bad = subprocess.run([sys.executable, "-m", "experiments.evaluate", "--modes=ring8"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "--modes needs one .npz" in bad.stderr


@pytest.mark.parametrize("arrays, dataset, message", [
    ({"x": np.zeros((4, 2))}, "cifar10", "2-D mixtures ring8, grid25"),
    ({"y": np.zeros((4, 2))}, "ring8", "no array x"),
    ({"x": np.zeros((4, 3))}, "ring8", r"\[N, 2\] with N > 0; got shape \(4, 3\)"),
    ({"x": np.full((4, 2), np.nan)}, "ring8", "non-finite"),
])
def test_bad_files_and_datasets_are_refused_by_name(tmp_path, arrays, dataset, message):
    with pytest.raises(ValueError, match=message):
        points_coverage(_save(tmp_path / "s.npz", **arrays), dataset)
    with pytest.raises(ValueError, match="is not a file"):
        points_coverage(str(tmp_path / "missing.npz"), "ring8")
