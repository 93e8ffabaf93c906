"""Test bits/dim of the likelihood models on the embedded image datasets, next to the per-pixel
independent-histogram baseline (issue 3's table).

  python -m benchmarks.likelihood_table --root=/tmp/likelihood [--datasets=digits,patches]
      [--models=realnvp,glow,pixelcnn,pixelcnn_categorical,vae,agave,agave_categorical,rae]
      [--name=likelihood_table]

Each (model, dataset) is one ordinary training run, `python -m experiments.main` with the
model's config and the overrides listed in RUNS (the printed table repeats each command), in
ROOT/<dataset>/<model>; its wall time (training plus the final test evaluation, compilation
included) is stored in ROOT/<dataset>/<model>/wall_time.json, and a finished run is not rerun.
The figures are the eval line of the final step in metrics.jsonl: test-split bpd (IWAE-k bound for
the latent-variable models, k = eval.iwae_k) or, for the RAE, which has no likelihood, the test
reconstruction error (`recon`: mean squared error per sub-pixel, pixels in [0, 1]) and the PSNR.
Writes benchmarks/results/likelihood_table.json (or --name) and prints a markdown table.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

from absl import app, flags

from benchmarks import common
import genmodels
from configs import default
from genmodels.data import datasets
from genmodels.methods import agave
from genmodels.metrics import baselines

_ROOT = flags.DEFINE_string("root", None, "Directory of the runs.", required=True)
_DATASETS = flags.DEFINE_list("datasets", ["digits", "patches"], "Embedded image datasets.")
_MODELS = flags.DEFINE_list("models", None, "Subset of the models (default: all of RUNS).")
_NAME = flags.DEFINE_string("name", "likelihood_table", "Results file name.")
_PER_IMAGE = flags.DEFINE_bool(
    "per_image", True, "Also the median and 90th percentile of per-image test bpd (from "
    "genmodels.load(W).bpd), which show how much a few outlying test images move the mean.")

# model -> (config, overrides for every dataset, extra overrides per dataset). Budgets are the
# configs' defaults on digits; patches (16x16x3, 12x the dimensions) get the same number of
# steps unless listed.
RUNS = {
    "realnvp": ("configs/flow.py:realnvp", {}, {}),
    "glow": ("configs/flow.py:glow", {}, {}),
    "pixelcnn": ("configs/pixelcnn.py", {}, {}),
    "pixelcnn_categorical": ("configs/pixelcnn.py:categorical", {}, {}),
    "vae": ("configs/vae.py", {}, {"patches": {"eval.iwae_k": 20}}),
    "agave": ("configs/agave.py", {}, {"patches": {"eval.iwae_k": 4}}),
    "agave_categorical": ("configs/agave.py",  # The PixelCNN of pixelcnn_categorical.
                          {"model.likelihood": "categorical", "model.dropout": 0.5},
                          {"patches": {"eval.iwae_k": 4}}),
    "rae": ("configs/rae.py", {}, {}),
}


def command(model: str, dataset: str, workdir: str) -> list[str]:
    config, common_overrides, per_dataset = RUNS[model]
    overrides = {"data.name": dataset, **common_overrides, **per_dataset.get(dataset, {})}
    return ([sys.executable, "-m", "experiments.main", f"--config={config}",
             f"--workdir={workdir}"] + [f"--config.{k}={v}" for k, v in overrides.items()])


def final_eval(workdir: str) -> dict:
    """The last eval line of W/metrics.jsonl."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    evals = [line for line in lines if line["split"] == "eval"]
    if not evals:
        raise RuntimeError(f"{workdir}/metrics.jsonl has no eval line; the run did not evaluate "
                           "(eval.every must divide train.num_steps).")
    return evals[-1]


def run(model: str, dataset: str, root: str) -> dict:
    workdir = os.path.join(root, dataset, model)
    timing = os.path.join(workdir, "wall_time.json")
    cmd = command(model, dataset, workdir)
    if not os.path.exists(timing):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.makedirs(workdir, exist_ok=True)
        with open(timing, "w") as f:
            json.dump({"seconds": time.perf_counter() - start}, f)
    with open(timing) as f:
        seconds = json.load(f)["seconds"]
    result = final_eval(workdir)
    if model.startswith("agave"):  # How much samples change with z alone (0 = z ignored).
        result.update(agave.z_sensitivity(genmodels.load(workdir)))
    print(f"{dataset}/{model}: {result} ({seconds:.0f} s)", flush=True)
    return {"eval": result, "wall_seconds": seconds,
            "command": " ".join(["python"] + cmd[1:4] + ["--workdir=W"] + cmd[5:])}


def split(dataset: str, name: str):
    c = default.base_config().data
    c.name = dataset
    return baselines.split_images(datasets.get_source(c, name))


def quantiles(bits) -> dict:
    return {"median": float(np.median(bits)), "p90": float(np.percentile(bits, 90))}


def per_image_bpd(workdir: str, test) -> dict:
    """Median and 90th percentile of the per-image test bpd of a run (its own bpd, e.g. the
    IWAE-k bound with the run's eval.iwae_k); the mean of these is the run's eval bpd."""
    model = genmodels.load(workdir)
    batch = model.config.eval.batch_size
    return quantiles(np.concatenate([model.bpd(test[i:i + batch])
                                     for i in range(0, len(test), batch)]))


def figure(result: dict) -> str:
    ev = result["eval"]
    if "bpd" in ev:
        text = f"{ev['bpd']:.3f}"
        if "z_change" in ev:
            text += (f" (KL {ev['kl']:.1f} nats = {ev['kl_bpd']:.3f} bpd; z_change "
                     f"{ev['z_change']:.1f} vs noise_change {ev['noise_change']:.1f} levels)")
    else:
        text = f"no bpd; recon MSE {ev['recon']:.4f}, PSNR {ev['psnr']:.1f} dB"
    return f"{text} ({result['wall_seconds'] / 60:.1f} min)"


def markdown(results: dict, baseline: dict, data: list[str]) -> str:
    lines = ["| model | " + " | ".join(data) + " |", "|---|" + "---|" * len(data)]
    lines.append("| per-pixel histogram | " + " | ".join(f"{baseline[d]:.3f}" for d in data)
                 + " |")
    for model in results:
        lines.append(f"| {model} | " + " | ".join(
            figure(results[model][d]) if d in results[model] else "" for d in data) + " |")
    return "\n".join(lines)


def quantile_table(results: dict, baseline: dict, data: list[str]) -> str:
    lines = ["| model | " + " | ".join(f"{d} median / p90" for d in data) + " |",
             "|---|" + "---|" * len(data),
             "| per-pixel histogram | " + " | ".join(
                 f"{baseline[d]['median']:.2f} / {baseline[d]['p90']:.2f}" for d in data) + " |"]
    for model, row in results.items():
        cells = [f"{row[d]['per_image']['median']:.2f} / {row[d]['per_image']['p90']:.2f}"
                 if "per_image" in row.get(d, {}) else "" for d in data]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    del argv
    models = _MODELS.value or list(RUNS)
    unknown = sorted(set(models) - set(RUNS))
    if unknown:
        raise app.UsageError(f"Unknown models {unknown}; valid: {sorted(RUNS)}.")
    tests = {d: split(d, "test") for d in _DATASETS.value}
    per_image = {d: baselines.histogram_bpd_per_image(split(d, "train"), tests[d])
                 for d in _DATASETS.value}
    baseline = {d: float(per_image[d].mean()) for d in _DATASETS.value}
    results = {m: {d: run(m, d, _ROOT.value) for d in _DATASETS.value} for m in models}
    if _PER_IMAGE.value:
        baseline_quantiles = {d: quantiles(per_image[d]) for d in _DATASETS.value}
        for m in models:
            for d in _DATASETS.value:
                if "bpd" in results[m][d]["eval"]:
                    results[m][d]["per_image"] = per_image_bpd(
                        os.path.join(_ROOT.value, d, m), tests[d])
        print(quantile_table(results, baseline_quantiles, _DATASETS.value))
    table = markdown(results, baseline, _DATASETS.value)
    print(table)
    extra = {"histogram_per_image": baseline_quantiles} if _PER_IMAGE.value else {}
    path = common.write_results(_NAME.value, {"histogram_bpd": baseline, "runs": results,
                                              "table": table, **extra})
    print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
