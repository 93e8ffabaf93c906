"""Every benchmark script parses its flags (absl rejects a flag defined twice across the modules a
script imports) and documents them in --help; nothing is measured here."""

import subprocess
import sys

import pytest

from tests.helpers import REPO

SCRIPTS = ["flows", "idgan_dsprites", "inception", "likelihood_table", "train_step"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_script_parses_its_flags(script):
    result = subprocess.run([sys.executable, "-m", f"benchmarks.{script}", "--help"],
                            cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})
    # absl's --help exits with status 1 after printing the flags (argparse: 0, "usage:"); a flag
    # defined twice raises DuplicateFlagError at import instead.
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "flags:" in result.stdout or "usage:" in result.stdout, result.stdout[-2000:]
