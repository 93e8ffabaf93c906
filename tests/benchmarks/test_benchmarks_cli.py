"""Every benchmark script parses its flags (absl rejects a flag defined twice across the modules a
script imports) and documents them in --help; nothing is measured here."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

SCRIPTS = sorted(name[:-3] for name in os.listdir(os.path.join(REPO, "benchmarks"))
                 if name.endswith(".py") and name not in ("__init__.py", "common.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_script_parses_its_flags(script):
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{script}", "--help"],
                            cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})
    # absl's --help exits with status 1 after printing the flags (argparse: 0, "usage:"); a flag
    # defined twice raises DuplicateFlagError at import instead.
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "flags:" in result.stdout or "usage:" in result.stdout, result.stdout[-2000:]


def test_suite_quick_writes_every_figure(tmp_path):
    """`benchmarks.run --quick` on one config: the JSON holds each figure of docs/benchmarks.md."""
    subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--only=vae",
                    "--repeats=1", f"--results_dir={tmp_path}"], cwd=REPO, check=True,
                   capture_output=True, timeout=600, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    with open(tmp_path / "suite_quick.json") as f:
        results = json.load(f)
    row = results["configs"]["vae"]
    for key in ("compile_seconds", "step_ms", "examples_per_sec", "gflop_per_step",
                "achieved_gflops", "fraction_of_matmul_peak", "memory_gib",
                "sample_images_per_sec"):
        assert row[key] > 0, key
    assert row["achieved_gflops"] * row["step_ms"] / 1e3 == pytest.approx(row["gflop_per_step"])


def test_variants_parse_literals_and_check_fields():
    from benchmarks import common
    from configs import gan
    assert common.parse_variant("") == {}
    assert common.parse_variant("train.tensorboard=False;model.g_hidden=(8, 8);losses.generator"
                                "=hinge") == {"train.tensorboard": False,
                                              "model.g_hidden": (8, 8),
                                              "losses.generator": "hinge"}
    config = common.with_variant(gan.get_config("grid25"), "train.tensorboard=False")
    assert config.train.tensorboard is False  # bool("False") would be True.
    with pytest.raises(ValueError, match="did you mean 'train.tensorboard'"):
        common.with_variant(gan.get_config("grid25"), "train.tensorbord=False")
