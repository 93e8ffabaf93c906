"""The samples that runs wrote on a 2-D mixture, scored and located (issue 26): for each workdir,
the trainer's mode-coverage metric on W/samples/samples.npz (a check of the run's final
evaluation on other samples) and where its samples lie against the modes.

  python -m experiments.main <a run's command> --mode=sample --num_samples=2500   # per run
  python -m benchmarks.samples_coverage --dataset=grid25 --name=NAME W1 W2 ...

Writes benchmarks/results/NAME.json: per run (labelled by its workdir's name) modes /
hq_fraction / reverse_kl (genmodels.metrics.mode_coverage) and the distance profile
(genmodels.metrics.modes.distance_profile): the share within 3 sigma of a mode (high quality),
between 3 and 6 sigma (a mode drawn too wide), beyond 6 sigma (between the modes), and the
spread of the high-quality samples around their modes over the data's sigma (0.974 for the
data's own points), beside the run's last evaluation during training (`final_eval`: its step,
modes, hq_fraction and reverse_kl from W/metrics.jsonl, on other samples of the same generator).
The data's own points are scored too, as the reference row ("data").
"""

import argparse
import os

from benchmarks.common import RESULTS_DIR, write_results
from genmodels.data import embedded
from genmodels.evaluation.modes import load_points
from genmodels.metrics.modes import distance_profile, mode_coverage
from genmodels.workdir import read_metrics, samples_file

FINAL_EVAL_KEYS = ("step", "modes", "hq_fraction", "reverse_kl")


def score(points, dataset: str) -> dict:
    """mode_coverage and distance_profile of points [N, 2] on `dataset`."""
    info = embedded.points_info(dataset)
    return {**mode_coverage(points, info.modes, info.mode_std),
            **distance_profile(points, info.modes, info.mode_std)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workdirs", nargs="+", help="Run directories holding samples/samples.npz")
    parser.add_argument("--dataset", required=True, choices=embedded.POINT_DATASETS)
    parser.add_argument("--name", required=True, help="Results file benchmarks/results/NAME.json")
    parser.add_argument("--results_dir", default=RESULTS_DIR)
    args = parser.parse_args(argv)
    runs = {}
    for workdir in args.workdirs:
        path = samples_file(workdir)
        if not path.exists():
            parser.error(f"{path} does not exist: write it with the run's own command plus "
                         "--mode=sample --num_samples=2500.")
        try:
            row = score(load_points(path, args.dataset), args.dataset)
        except ValueError as e:
            parser.error(str(e))
        evals = read_metrics(workdir, "eval")
        row["final_eval"] = {k: evals[-1][k] for k in FINAL_EVAL_KEYS} if evals else None
        runs[os.path.basename(os.path.normpath(workdir))] = row
    reference = embedded.points_source(args.dataset, "test").arrays["x"]
    results = {"dataset": args.dataset, "data": score(reference, args.dataset), "runs": runs}
    print(write_results(args.name, results, args.results_dir))
    return results


if __name__ == "__main__":
    main()
