"""Where a train step's time goes: per-op time from a profiler trace, and for every convolution
and dot its FLOPs and achieved GFLOP/s.

  python -m benchmarks.op_profile --config=configs/gan.py:cifar10 [--batch_size=64] [--top=25]

Compiles the trainer's step (`benchmarks.common.compile_train_step`: random data of the
dataset's shape), runs it under `jax.profiler.trace`, and matches each traced op (an HLO
instruction of the compiled program, usually a fusion) to its HLO text. A fusion's FLOPs are those of the
convolutions and dots it calls, each multiply-add counted as 2 and only where it reads data
(not padding, not the zeros that dilate a strided convolution's input gradient): XLA's cost
analysis counts the same way. Prints the top ops, their sums by kind and the totals; writes
results/<name>.json.

Read per-op rates with care: ops run concurrently, so their times can sum to more than the
step, and an op whose rate exceeds the machine's matmul peak was not timed whole (its trace
event covers only part of the work, e.g. an asynchronous launch).
"""

import glob
import gzip
import json
import math
import os
import re
import tempfile
import time

import jax
from absl import app, flags
from ml_collections import config_flags

from benchmarks import common

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file[:preset].")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Global batch size.")
_STEPS = flags.DEFINE_integer("steps", 3, "Profiled steps (after 2 warm-up steps).")
_TOP = flags.DEFINE_integer("top", 25, "Ops to print, slowest first.")
_NAME = flags.DEFINE_string("name", "op_profile", "Results file name.")
_RESULTS_DIR = flags.DEFINE_string("results_dir", common.RESULTS_DIR, "Where results go.")
_KEEP = 200  # Slowest ops written to the JSON; `by_kind` and the totals cover all of them.

_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT )?%?([\w.\-]+) = (\(.*?\)|\w+\[[\d,]*\])\S* ([\w\-]+)\((.*)")
_COMPUTATION = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) ")


def _dims(shape: str) -> list[int]:
    if shape.startswith("("):  # A tuple: no single shape (multi-output fusions).
        return []
    return [int(d) for d in shape[shape.index("[") + 1:-1].split(",") if d]


def parse_hlo(hlo_text: str) -> dict[str, dict[str, dict]]:
    """{computation: {instruction: {"shape", "op", "rest"}}} of an HLO module's text."""
    computations, current = {}, None
    for line in hlo_text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith("{"):
            match = _COMPUTATION.match(line)
            current = computations.setdefault(match.group(1), {}) if match else None
        elif current is not None and (match := _INSTRUCTION.match(line)):
            name, shape, op, rest = match.groups()
            current[name] = {"shape": _dims(shape), "op": op, "rest": rest}
    return computations


def _operands(rest: str) -> list[str]:
    return [o.strip().lstrip("%") for o in rest.split(")")[0].split(",")]


def _window_field(window: str, key: str, rank: int, default: str) -> list[str]:
    """One field of an HLO convolution window ("size=3x3 pad=1_1x1_1 ..."), per dimension."""
    match = re.search(rf"\b{key}=([\d_x]+)", window)
    return match.group(1).split("x") if match else [default] * rank


def _taps_on_data(out_size: int, in_size: int, size: int, stride: int, pad_low: int,
                  lhs_dilation: int, rhs_dilation: int) -> int:
    """Over one spatial dimension: the (output position, kernel tap) pairs that read an input
    element rather than padding or a zero inserted by input dilation."""
    count = 0
    for o in range(out_size):
        for k in range(size):
            p = o * stride + k * rhs_dilation - pad_low
            count += 0 <= p <= (in_size - 1) * lhs_dilation and p % lhs_dilation == 0
    return count


def contraction_flops(instruction: dict, computation: dict) -> float:
    """FLOPs of one convolution or dot (multiply and add counted separately), else 0. A
    convolution counts only the taps that read data: not padding, and not the zeros of an
    input (lhs) dilation (the input gradient of a strided convolution)."""
    out, rest = instruction["shape"], instruction["rest"]
    operands = _operands(rest)
    if instruction["op"] == "dot":
        lhs = computation[operands[0]]["shape"]
        contracting = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", rest).group(1)
        size = math.prod(lhs[int(d)] for d in contracting.split(",") if d)
        return 2.0 * math.prod(out) * size
    if instruction["op"] == "convolution":
        lhs, kernel = (computation[o]["shape"] for o in operands[:2])
        lhs_labels, kernel_labels, out_labels = re.search(
            r"dim_labels=(\w+)_(\w+)->(\w+)", rest).groups()
        window = re.search(r"window=\{([^}]*)\}", rest)
        window = window.group(1) if window else ""
        rank = len(lhs_labels) - 2
        sizes = _window_field(window, "size", rank, "1")
        strides = _window_field(window, "stride", rank, "1")
        pads = _window_field(window, "pad", rank, "0_0")
        lhs_dilations = _window_field(window, "lhs_dilate", rank, "1")
        rhs_dilations = _window_field(window, "rhs_dilate", rank, "1")
        taps = 1
        for d in range(rank):
            taps *= _taps_on_data(out[out_labels.index(str(d))], lhs[lhs_labels.index(str(d))],
                                  int(sizes[d]), int(strides[d]), int(pads[d].split("_")[0]),
                                  int(lhs_dilations[d]), int(rhs_dilations[d]))
        # The kernel's input-feature dimension is already per feature group.
        return (2.0 * out[out_labels.index("b")] * out[out_labels.index("f")]
                * kernel[kernel_labels.index("i")] * taps)
    return 0.0


def op_flops(name: str, computation: dict, computations: dict) -> tuple[float, str]:
    """FLOPs and a description of the convolutions/dots that instruction `name` of
    `computation` runs, itself or inside the computation it calls (a fusion)."""
    instruction = computation[name]
    called = re.search(r"calls=%?([\w.\-]+)", instruction["rest"])
    body = computations.get(called.group(1), {}) if called else {name: instruction}
    scope = body if called else computation
    flops, parts = 0.0, []
    for inner in body.values():
        if (inner_flops := contraction_flops(inner, scope)):
            flops += inner_flops
            window = re.search(r"window=\{([^}]*)\}", inner["rest"])
            operands = [scope[o]["shape"] for o in _operands(inner["rest"])[:2]]
            parts.append(f"{inner['op']} {operands[0]}x{operands[1]}"
                         + (f" window {window.group(1)}" if window else ""))
    return flops, "; ".join(parts)


def traced_op_ms(trace_dir: str, names, steps: int) -> dict[str, float]:
    """Mean milliseconds per step of each traced event whose name is in `names`."""
    path = sorted(glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True))[-1]
    with gzip.open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    totals = {}
    for event in events:
        if event.get("ph") == "X" and event.get("name") in names:
            totals[event["name"]] = totals.get(event["name"], 0.0) + event.get("dur", 0) / 1e3
    return {name: ms / steps for name, ms in totals.items()}


def profile(compiled, args, steps: int) -> dict:
    """Runs compiled(*args) `steps` times under the profiler (threading the first output back
    in as the first argument, as a train step does) and returns per-op rows, slowest first,
    their totals and their sums by kind."""
    computations = parse_hlo(compiled.as_text())
    home = {name: computation for computation in computations.values() for name in computation}
    state, rest = args[0], args[1:]
    for _ in range(2):
        state = jax.block_until_ready(compiled(state, *rest)[0])
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            start = time.perf_counter()
            for _ in range(steps):
                state = jax.block_until_ready(compiled(state, *rest)[0])
            step_ms = (time.perf_counter() - start) / steps * 1e3
        op_ms = traced_op_ms(trace_dir, home, steps)
    rows = []
    for name, ms in op_ms.items():
        flops, what = op_flops(name, home[name], computations)
        rows.append({"op": name, "ms": ms, "gflop": flops / 1e9,
                     "gflops": flops / ms / 1e6 if flops else 0.0, "contractions": what})
    rows.sort(key=lambda row: -row["ms"])
    by_kind = {}
    for row in rows:
        kind = (row["contractions"].split(" ")[0] if row["gflop"]
                else re.sub(r"\.\d+$", "", row["op"]))
        total = by_kind.setdefault(kind, {"ms": 0.0, "gflop": 0.0, "ops": 0})
        total["ms"] += row["ms"]
        total["gflop"] += row["gflop"]
        total["ops"] += 1
    contraction_ms = sum(row["ms"] for row in rows if row["gflop"])
    total_ms = sum(row["ms"] for row in rows)
    gflop = sum(row["gflop"] for row in rows)
    return {"step_ms": step_ms, "op_ms_total": total_ms, "contraction_ms": contraction_ms,
            "other_ms": total_ms - contraction_ms, "contraction_gflop": gflop,
            "contraction_gflops": gflop / contraction_ms * 1e3 if contraction_ms else 0.0,
            "by_kind": dict(sorted(by_kind.items(), key=lambda kv: -kv[1]["ms"])), "ops": rows}


def main(argv):
    del argv
    config = _CONFIG.value
    compiled, state, batch, _ = common.compile_train_step(config, _BATCH.value)
    result = profile(compiled, (state, batch), _STEPS.value)
    result["xla_cost_analysis_gflop"] = common.compiled_flops(compiled) / 1e9
    print(f"step (wall, while profiled): {result['step_ms']:.1f} ms; "
          f"ops: {result['op_ms_total']:.1f} ms per step, of which convolutions/dots "
          f"{result['contraction_ms']:.1f} ms ({result['contraction_gflop']:.1f} GFLOP, "
          f"{result['contraction_gflops']:.1f} GFLOP/s inside them) and other ops "
          f"{result['other_ms']:.1f} ms. Ops run concurrently, so their sum can exceed the step; "
          "time outside any op (dispatch, waiting) makes it fall short.")
    print("by kind (a fusion's name without its number; contractions by their first op):")
    for kind, total in list(result["by_kind"].items())[:10]:
        print(f"{total['ms']:9.1f} ms {100 * total['ms'] / result['op_ms_total']:5.1f}%  "
              f"{total['ops']:5d} ops  {kind}")
    print("slowest ops:")
    for row in result["ops"][:_TOP.value]:
        print(f"{row['ms']:8.2f} ms {row['gflop']:7.3f} GFLOP {row['gflops']:7.1f} GFLOP/s  "
              f"{row['op']:26s} {row['contractions'][:110]}")
    path = common.write_results(_NAME.value, directory=_RESULTS_DIR.value, results={
        "config": config.to_dict(), "batch_size": _BATCH.value, **result,
        "ops": result["ops"][:_KEEP], "ops_total": len(result["ops"])})
    print("wrote", path)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config"])
    app.run(main)
