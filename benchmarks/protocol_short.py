"""One short grid25 run of a preset and of its `_protocol` setting at the same budget (issue 26):
a smoke comparison of one seed, not the ablation.

  python -m benchmarks.protocol_short --root=/tmp/protocol_short --num_steps=5000

Trains configs/gan.py:grid25_plain and configs/gan.py:grid25_protocol (--configs to choose others),
seed 0, train.num_steps=--num_steps, evaluating modes / hq_fraction / reverse_kl every
eval.every steps, and writes benchmarks/results/protocol_short.json (--name): per run the
command, the final evaluation, the mean over all evaluations and the wall time. A workdir that
already holds a finished run is read, not retrained.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks.common import write_results

METRICS = ("modes", "hq_fraction", "reverse_kl")


def command(config: str, workdir: str, num_steps: int, eval_every: int) -> list[str]:
    return [sys.executable, "-m", "experiments.main", f"--config={config}",
            f"--workdir={workdir}", f"--config.train.num_steps={num_steps}",
            f"--config.eval.every={eval_every}"]


def evaluations(workdir: str) -> list[dict]:
    """The eval lines of W/metrics.jsonl, in step order."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return sorted((line for line in lines if line["split"] == "eval"), key=lambda l: l["step"])


def run(config: str, root: str, num_steps: int, eval_every: int) -> dict:
    workdir = os.path.join(root, config.replace("/", "_").replace(":", "_"))
    cmd = command(config, workdir, num_steps, eval_every)
    timing = os.path.join(workdir, "wall_time.json")
    if not os.path.exists(timing):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(timing, "w") as f:
            json.dump({"seconds": time.perf_counter() - start}, f)
    with open(timing) as f:
        seconds = json.load(f)["seconds"]
    evals = evaluations(workdir)
    if not evals or evals[-1]["step"] != num_steps:
        raise RuntimeError(f"{workdir} has no evaluation at step {num_steps}.")
    result = {
        "command": " ".join(["python"] + cmd[1:4] + ["--workdir=W"] + cmd[5:]),
        "final": {k: evals[-1][k] for k in METRICS},
        "mean_over_evals": {k: sum(e[k] for e in evals) / len(evals) for k in METRICS},
        "eval_steps": [e["step"] for e in evals],
        "wall_seconds": seconds,
    }
    print(f"{config}: {result}", flush=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="/tmp/protocol_short")
    parser.add_argument("--num_steps", type=int, default=5000)
    parser.add_argument("--eval_every", type=int, default=1000)
    parser.add_argument("--name", default="protocol_short",
                        help="results file: benchmarks/results/NAME.json")
    parser.add_argument("--configs", nargs="+",
                        default=["configs/gan.py:grid25_plain", "configs/gan.py:grid25_protocol"])
    args = parser.parse_args(argv)
    runs = {c: run(c, args.root, args.num_steps, args.eval_every) for c in args.configs}
    out = {"seed": 0, "num_steps": args.num_steps, "eval_every": args.eval_every, "runs": runs,
           "note": "one seed each on a shared 2-core CPU; wall times include other load"}
    print(f"wrote {write_results(args.name, out)}")


if __name__ == "__main__":
    main()
