"""Feature-extraction throughput of the FID InceptionV3 on this machine.

  python -m benchmarks.inception [--batch_sizes=32,64] [--image_size=32] [--repeats=5]
      [--weights=random|installed]

--weights=random (default): random weights, pool3 + logits, writes
benchmarks/results/inception.json; --weights=installed: the `fid` extra's real weights, pool3
only (what eval.features=inception and --compare run), writes inception_installed.json. Random
uint8 images of `image_size` px, resized by the network's own bilinear resize to 299, as in
evaluation. Prints compile time, median seconds per batch, images/s and achieved GFLOP/s (XLA
cost analysis) against a matmul peak measured in the same run, and records the load average
(the machine may be shared).
"""

import os
import time

import jax
import numpy as np
from absl import app, flags

from benchmarks import common
from genmodels.metrics import inception, inception_convert, torchscript

_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["32", "64"], "Images per call.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 32, "Input images' size (resized to 299).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per batch size.")
_WEIGHTS = flags.DEFINE_enum("weights", "random", ["random", "installed"],
                             "Random weights with logits, or the installed FID weights (pool3).")


def measure(params, batch_size: int, image_size: int, repeats: int) -> dict:
    images = np.random.default_rng(0).integers(
        0, 256, (batch_size, image_size, image_size, 3)).astype(np.uint8)
    net = inception.InceptionV3(logits="fc" in params)
    apply = jax.jit(lambda p, x: net.apply({"params": p}, x))
    start = time.perf_counter()
    compiled = apply.lower(params, images).compile()
    compile_seconds = time.perf_counter() - start
    seconds, times = common.median_seconds(compiled, params, images, warmup=1, repeats=repeats)
    flops = common.compiled_flops(compiled)
    return {"batch_size": batch_size, "compile_seconds": compile_seconds,
            "seconds_per_batch": seconds, "times": times, "images_per_second": batch_size / seconds,
            "gflop_per_image": flops / batch_size / 1e9, "achieved_gflops": flops / seconds / 1e9}


def weights_file_facts(path: str) -> dict:
    """Size, tensor and parameter counts of the installed TorchScript weights file."""
    tensors, _ = torchscript.read_module(path)
    return {"weights_file": {"path": path, "bytes": os.path.getsize(path),
                             "tensors": len(tensors),
                             "parameters": sum(int(v.size) for v in tensors.values())}}


def main(argv):
    del argv
    load_before = os.getloadavg()
    peak = common.matmul_peak_gflops()
    installed = _WEIGHTS.value == "installed"
    params = (inception_convert.load_params(inception.require_weights()) if installed
              else inception.init_params())
    rows = []
    for b in map(int, _BATCH_SIZES.value):
        row = measure(params, b, _IMAGE_SIZE.value, _REPEATS.value)
        row["fraction_of_matmul_peak"] = row["achieved_gflops"] / peak
        rows.append(row)
        print(f"batch {b}: compile {row['compile_seconds']:.1f} s, "
              f"{row['seconds_per_batch']:.2f} s/batch, {row['images_per_second']:.1f} images/s, "
              f"{row['gflop_per_image']:.2f} GFLOP/image, {row['achieved_gflops']:.0f} GFLOP/s "
              f"({row['fraction_of_matmul_peak']:.0%} of the {peak:.0f} GFLOP/s matmul peak)",
              flush=True)
    extra = weights_file_facts(inception.require_weights()) if installed else {}
    path = common.write_results("inception_installed" if installed else "inception", {
        **extra, "weights": _WEIGHTS.value, "outputs": ["pool3"] if installed else ["logits", "pool3"],
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "matmul_peak_gflops": peak, "image_size": _IMAGE_SIZE.value, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
