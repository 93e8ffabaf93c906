"""benchmarks.op_profile: per-op FLOPs parsed from the compiled HLO match closed forms and XLA's
cost analysis, and every traced op is matched to an instruction of the program."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from benchmarks import common, op_profile
from tests.helpers import REPO


def _step(w, x):
    """A 'train step' with one convolution and one dot: returns the new first argument first."""
    y = jax.lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return w * 1.0001, (y.reshape(y.shape[0], -1) @ jnp.ones((8 * 8 * 8, 7))).sum()


def test_profile_counts_each_contraction_and_times_it():
    w, x = jnp.ones((3, 3, 4, 8)), jnp.ones((2, 10, 10, 4))
    compiled = jax.jit(_step).lower(w, x).compile()
    result = op_profile.profile(compiled, (w, x), steps=2)
    conv_flops = 2 * (2 * 8 * 8 * 8) * (3 * 3 * 4)  # 2 x outputs x (kernel size x in-channels)
    dot_flops = 2 * (2 * 7) * 512
    assert result["contraction_gflop"] * 1e9 == pytest.approx(conv_flops + dot_flops)
    # XLA's count adds the elementwise ops and the sum: slightly more, never less.
    xla = common.compiled_flops(compiled)
    assert conv_flops + dot_flops <= xla < 1.01 * (conv_flops + dot_flops)
    kinds = sorted(row["contractions"].split(" ")[0] for row in result["ops"] if row["gflop"])
    assert kinds == ["convolution", "dot"]
    assert all(row["ms"] > 0 for row in result["ops"] if row["gflop"])
    assert result["step_ms"] > 0
    assert result["op_ms_total"] == pytest.approx(result["contraction_ms"] + result["other_ms"])
    assert sum(k["ms"] for k in result["by_kind"].values()) == pytest.approx(result["op_ms_total"])
    assert result["by_kind"]["convolution"]["gflop"] * 1e9 == pytest.approx(conv_flops)


def test_grouped_convolution_counts_only_its_groups_inputs():
    hlo = op_profile.parse_hlo(jax.jit(lambda x, w: jax.lax.conv_general_dilated(
        x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=2)).lower(jnp.ones((1, 5, 5, 4)), jnp.ones((3, 3, 2, 6)))
        .compile().as_text())
    flops = [op_profile.contraction_flops(inst, comp) for comp in hlo.values()
             for inst in comp.values() if inst["op"] == "convolution"]
    assert flops == [2 * (1 * 3 * 3 * 6) * (3 * 3 * 2)]  # each output sees 2 of the 4 channels


def test_input_dilated_convolution_counts_only_the_taps_on_data():
    """The input gradient of a stride-2 convolution dilates its input by 2: on an 8x8 input,
    with a 2x2 window that steps over the dilated 15x15 grid, each output sees one real tap
    (of 4) on average; the count is 2 x outputs x taps x channels / 4."""
    hlo = op_profile.parse_hlo(jax.jit(lambda x, w: jax.lax.conv_general_dilated(
        x, w, (1, 1), ((0, 0), (0, 0)), lhs_dilation=(2, 2),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))).lower(
            jnp.ones((1, 8, 8, 3)), jnp.ones((2, 2, 3, 5))).compile().as_text())
    flops = [op_profile.contraction_flops(inst, comp) for comp in hlo.values()
             for inst in comp.values() if inst["op"] == "convolution"]
    assert flops == [2 * (1 * 14 * 14 * 5) * (2 * 2 * 3) / 4]


@pytest.mark.parametrize("strides, padding, lhs_dilation, rhs_dilation", [
    ((1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1)),  # "SAME" 3x3: borders read padding
    ((2, 2), ((1, 2), (0, 1)), (1, 1), (1, 1)),  # strided, asymmetric padding
    ((1, 1), ((2, 2), (2, 2)), (2, 2), (1, 1)),  # a stride-2 convolution's input gradient
    ((1, 1), ((1, 1), (1, 1)), (1, 1), (2, 2)),  # a stride-2 convolution's weight gradient
])
def test_convolution_flops_equal_xla_cost_analysis(strides, padding, lhs_dilation, rhs_dilation):
    """Only taps that read data count, as in XLA's own cost analysis."""
    x, w = jnp.ones((2, 7, 6, 3)), jnp.ones((3, 3, 3, 5))
    compiled = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
        x, w, strides, padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
        dimension_numbers=("NHWC", "HWIO", "NHWC"))).lower(x, w).compile()
    hlo = op_profile.parse_hlo(compiled.as_text())
    flops = sum(op_profile.contraction_flops(inst, comp) for comp in hlo.values()
                for inst in comp.values())
    assert flops == common.compiled_flops(compiled)


def test_cli_profiles_a_config_train_step(tmp_path):
    """The whole script on the VAE default config: the counted contractions are most of XLA's
    FLOPs for the step (the rest is elementwise work) and never more."""
    subprocess.run([sys.executable, "-m", "benchmarks.op_profile", "--config=configs/vae.py",
                    "--batch_size=8", "--steps=1", f"--results_dir={tmp_path}"], cwd=REPO,
                   check=True, capture_output=True, timeout=300,
                   env={**os.environ, "JAX_PLATFORMS": "cpu"})
    with open(tmp_path / "op_profile.json") as f:
        result = json.load(f)
    assert 0.5 * result["xla_cost_analysis_gflop"] < result["contraction_gflop"]
    assert result["contraction_gflop"] <= result["xla_cost_analysis_gflop"]
    assert result["step_ms"] > 0 and result["ops"]
