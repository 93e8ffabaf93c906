"""Train-step speed of the CIFAR-10-sized flows (Real NVP and Glow presets of configs/flow.py).

  python -m benchmarks.flows [--batch_size=64] [--repeats=3] [--presets=cifar10,glow_cifar10]
      [--name=flows]

(--batch_size, --repeats and --name are benchmarks.train_step's flags.)

Random uint8 batches of CIFAR-10's shape (no dataset needed). Prints compile time, median step
time and achieved GFLOP/s (XLA cost analysis of the jitted step) against the machine's matmul
peak, and writes benchmarks/results/flows.json.
"""

from absl import app, flags

import configs.flow
from benchmarks import common, train_step

_PRESETS = flags.DEFINE_list("presets", ["cifar10", "glow_cifar10"], "configs/flow.py presets.")
_BATCH, _REPEATS, _NAME = train_step._BATCH, train_step._REPEATS, train_step._NAME
flags.FLAGS.set_default("repeats", 3)  # Each step is seconds on a CPU.
flags.FLAGS.set_default("name", "flows")


def main(argv):
    del argv
    peak = common.matmul_peak_gflops()
    rows = {}
    for preset in _PRESETS.value:
        config = configs.flow.get_config(preset)
        result = train_step.measure(config, _BATCH.value, _REPEATS.value)
        result["fraction_of_matmul_peak"] = result["achieved_gflops"] / peak
        result["model"] = config.model.to_dict()
        rows[preset] = result
        print(f"{preset:14s} compile {result['compile_seconds']:6.1f}s  step "
              f"{result['step_ms']:9.1f} ms  {result['gflop_per_step']:8.1f} GFLOP  "
              f"{result['achieved_gflops']:6.1f} GFLOP/s "
              f"({100 * result['fraction_of_matmul_peak']:.0f}% of matmul peak)", flush=True)
    print(f"matmul peak (2048^2 f32): {peak:.1f} GFLOP/s")
    path = common.write_results(_NAME.value, {"batch_size": _BATCH.value,
                                              "matmul_peak_gflops": peak, "presets": rows})
    print("wrote", path)


if __name__ == "__main__":
    app.run(main)
