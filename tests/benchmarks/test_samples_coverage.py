"""benchmarks.samples_coverage and genmodels.metrics.modes.distance_profile: where a run's
samples lie against the modes of a 2-D mixture."""

import json

import numpy as np
import pytest

from benchmarks import samples_coverage
from genmodels.data import embedded
from genmodels.metrics.modes import distance_profile, mode_coverage


def test_the_datas_own_points_match_the_gaussian_closed_forms():
    """Radius r of a 2-D standard normal: P(r <= 3) = 1 - e^{-4.5}, P(3 < r <= 6) = e^{-4.5} -
    e^{-18}, and E[r^2 | r <= 3] / 2 = 1 - 9 e^{-4.5} / (2 (1 - e^{-4.5}))."""
    info = embedded.points_info("grid25")
    x = embedded.points_source("grid25", "test").arrays["x"]
    profile = distance_profile(x, info.modes, info.mode_std)
    n = len(x)
    for key, p in (("hq_fraction", 1 - np.exp(-4.5)),
                   ("near_fraction", np.exp(-4.5) - np.exp(-18)),
                   ("between_fraction", np.exp(-18))):
        assert abs(profile[key] - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-12, key
    spread = np.sqrt(1 - 9 * np.exp(-4.5) / (2 * (1 - np.exp(-4.5))))
    assert spread == pytest.approx(0.97440, abs=1e-5)
    assert profile["hq_spread"] == pytest.approx(spread, abs=0.02)
    assert profile["hq_fraction"] == mode_coverage(x, info.modes, info.mode_std)["hq_fraction"]
    # The order of the samples does not matter.
    shuffled = np.random.default_rng(0).permutation(x)
    assert distance_profile(shuffled, info.modes, info.mode_std) == pytest.approx(profile)


def test_known_points_fall_in_their_bands():
    modes = np.array([[0.0, 0.0], [2.0, 0.0]])
    # On a mode, at 2 and 5 std from mode 0 (std 0.1), halfway between the modes (10 std).
    x = np.array([[0.0, 0.0], [0.0, 0.2], [0.5, 0.0], [1.0, 0.0]])
    profile = distance_profile(x, modes, std=0.1)
    assert profile["hq_fraction"] == 0.5
    assert profile["near_fraction"] == profile["between_fraction"] == 0.25
    # The two high-quality points sit at 0 and 2 std: sqrt((0 + 4) / 2 / 2) = 1.
    assert profile["hq_spread"] == pytest.approx(1.0)
    assert np.isnan(distance_profile(x[2:], modes, std=0.1)["hq_spread"])


def test_script_scores_each_runs_samples_and_names_missing_ones(tmp_path):
    info = embedded.points_info("ring8")
    run = tmp_path / "run_a"
    (run / "samples").mkdir(parents=True)
    x = np.repeat(info.modes[:2], 50, axis=0) + [0.0, 4 * info.mode_std]  # 4 std off 2 modes
    np.savez(run / "samples" / "samples.npz", x=x.astype(np.float32))
    evals = [{"step": s, "split": "eval", "modes": m, "hq_fraction": 0.5, "reverse_kl": 0.1,
              "modes_num_samples": 2500} for s, m in ((10, 3), (20, 7))]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in evals))
    results = samples_coverage.main([str(run), "--dataset=ring8", "--name=sc",
                                     f"--results_dir={tmp_path}"])
    with open(tmp_path / "sc.json") as f:
        written = json.load(f)["runs"]["run_a"]
    row = results["runs"]["run_a"]
    # Beside the samples' numbers, the run's last evaluation during training.
    assert row.pop("final_eval") == written.pop("final_eval") == {
        "step": 20, "modes": 7, "hq_fraction": 0.5, "reverse_kl": 0.1}
    assert written == pytest.approx(row, nan_ok=True)
    assert row["modes"] == 0 and row["near_fraction"] == pytest.approx(1.0)
    assert results["data"]["modes"] == 8 and results["data"]["hq_fraction"] > 0.97
    with pytest.raises(SystemExit):
        samples_coverage.main([str(tmp_path / "no_run"), "--dataset=ring8", "--name=sc",
                               f"--results_dir={tmp_path}"])
