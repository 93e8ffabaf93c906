"""What the input pipeline costs a training run, with and without device prefetch.

  python -m benchmarks.input_pipeline --configs=configs/gan.py,configs/hybrid.py --num_steps=400

Trains each config for --num_steps (no sampling or evaluation until the end, fresh workdirs)
three ways: the real pipeline with `data.device_prefetch` = 2 and = 0, and a `constant` run
whose every step reuses one batch held in memory (no loading at all). The pipeline's cost is
1 - steps/s(pipeline) / steps/s(constant). Also reported: `input_wait_fraction`, the time the
loop spent blocked on the next batch divided by wall time. With asynchronous dispatch the
device may still be busy during that wait, so it bounds the cost from above. Means are over
the logged windows after the first, which includes compilation. Writes
benchmarks/results/input_pipeline.json.
"""

import tempfile
from unittest import mock

import grain
import numpy as np
from absl import app, flags

from benchmarks import common
from genmodels import data
from genmodels.sweeps import parse_config
from genmodels.train import loop
from genmodels.workdir import read_metrics

VARIANTS = {"prefetch 2": 2, "prefetch 0": 0, "constant": 2}

_CONFIGS = flags.DEFINE_list("configs", ["configs/gan.py", "configs/hybrid.py"], "Config specs.")
_NUM_STEPS = flags.DEFINE_integer("num_steps", 400, "Train steps per run.")
_LOG_EVERY = flags.DEFINE_integer("log_every", 50, "Steps per measured window.")


def constant_dataset(data_config, **kwargs) -> grain.IterDataset:
    """The first training batch, repeated forever: a pipeline that costs nothing."""
    batch = next(data.train_batches(data_config, **kwargs))
    return grain.MapDataset.source([batch]).repeat().to_iter_dataset()


def measure(spec: str, variant: str, num_steps: int, log_every: int) -> dict:
    prefetch = VARIANTS[variant]
    config = parse_config(spec, [
        f"--config.train.num_steps={num_steps}", f"--config.train.log_every={log_every}",
        f"--config.train.checkpoint_every={num_steps}", f"--config.train.sample_every={num_steps}",
        f"--config.eval.every={num_steps}", "--config.eval.metrics=()",
        "--config.train.tensorboard=False", f"--config.data.device_prefetch={prefetch}"])
    with tempfile.TemporaryDirectory() as workdir:
        if variant == "constant":
            with mock.patch.object(data, "train_dataset", constant_dataset):
                loop.train_and_evaluate(config, workdir)
        else:
            loop.train_and_evaluate(config, workdir)
        windows = [r for r in read_metrics(workdir)
                   if r["split"] == "train" and "input_wait_fraction" in r][1:]
    return {"steps_per_sec": float(np.mean([r["steps_per_sec"] for r in windows])),
            "input_wait_fraction": float(np.mean([r["input_wait_fraction"] for r in windows])),
            "windows": len(windows), "batch_size": config.data.batch_size}


def main(argv):
    del argv
    rows = {}
    for spec in _CONFIGS.value:
        runs = {v: measure(spec, v, _NUM_STEPS.value, _LOG_EVERY.value) for v in VARIANTS}
        for variant, row in runs.items():
            row["cost"] = 1 - row["steps_per_sec"] / runs["constant"]["steps_per_sec"]
            rows[f"{spec} {variant}"] = row
            print(f"{spec:20s} {variant:10s}: {row['steps_per_sec']:7.1f} steps/s, pipeline "
                  f"cost {100 * row['cost']:5.1f}%, input wait "
                  f"{100 * row['input_wait_fraction']:5.2f}% of wall time", flush=True)
    print("wrote", common.write_results("input_pipeline", {"num_steps": _NUM_STEPS.value,
                                                           "runs": rows}))


if __name__ == "__main__":
    app.run(main)
