"""How much a larger IWAE k lowers a latent-variable model's test bpd, without paying for it on
the whole test split.

  python -m benchmarks.iwae_gap --workdir=W --k=4,64 --worst=200 --random=300

Scores every test image at the small k, then rescores at the large k the `worst` images of
highest bpd and `random` of the others, drawn uniformly. With d_i = bpd_small_i - bpd_large_i,
the full-split mean at the large k is the stratified estimate

  mean_small - (sum_worst d_i + (N - worst) * mean_random d_i) / N,

exact on the worst stratum, with the standard error of the random one. The worst images get
their own stratum because a few of them can dominate a mean bpd (a held-out photograph's
near-black patches, docs/likelihood.md). Works for every method whose bpd is an IWAE bound
(eval.iwae_k: VAE, AGAVE). Writes benchmarks/results/<name>.json and prints it.
"""

import json
import time

import numpy as np
from absl import app, flags

from benchmarks import common
from genmodels import api, data


def stratified_gain(d_worst: np.ndarray, d_random: np.ndarray, n: int) -> tuple[float, float]:
    """(mean of d over all n images, its standard error): the worst stratum is enumerated, the
    rest (n - len(d_worst) images) is estimated from d_random, drawn from it without replacement
    (hence the finite-population factor: the error is 0 when the sample is the whole rest)."""
    rest, m = n - len(d_worst), len(d_random)
    se = rest / n * d_random.std(ddof=1) / np.sqrt(m) * np.sqrt(1 - m / rest)
    return float((d_worst.sum() + rest * d_random.mean()) / n), float(se)


def load_at_k(workdir: str, step, k: int, chunk: int):
    """The trained model of `workdir` with its bpd as the IWAE bound at k."""
    config = api.with_iwae_k(api.load_config(workdir), k)
    config.eval.iwae_chunk = min(k, chunk)
    return api.load(workdir, step, config)


def per_image_bpd(model, indices, batch_size: int, seed: int) -> np.ndarray:
    """bpd of the test images `indices`, in that order."""
    source = data.get_source(model.config.data, "test")
    return np.concatenate([
        model.bpd(source.read_batch(indices[i:i + batch_size])["image"], seed=seed)
        for i in range(0, len(indices), batch_size)])


def estimate(workdir: str, step, small: int, large: int, worst: int, random: int, chunk: int,
             batch_size: int, seed: int) -> dict:
    """The stratified estimate of the test bpd at IWAE k = large (module docstring)."""
    if not 1 <= small < large:
        raise ValueError(f"k = {small}, {large}: give the small k, then a larger one (4,64).")
    n = len(data.get_source(api.load_config(workdir).data, "test"))
    if worst + random > n or random < 2:
        raise ValueError(f"worst={worst} + random={random} must be <= the {n} test images, "
                         "with random >= 2.")
    start = time.perf_counter()
    model = load_at_k(workdir, step, small, chunk)
    bpd_small = per_image_bpd(model, np.arange(n), batch_size, seed)
    seconds_small = time.perf_counter() - start
    order = np.argsort(-bpd_small)
    worst_images = np.sort(order[:worst])
    random_images = np.sort(np.random.default_rng(seed).choice(order[worst:], random,
                                                               replace=False))
    rescored = np.concatenate([worst_images, random_images])
    start = time.perf_counter()
    bpd_large = per_image_bpd(load_at_k(workdir, model.step, large, chunk), rescored,
                              batch_size, seed + 1)
    seconds_large = time.perf_counter() - start
    d = bpd_small[rescored] - bpd_large
    gain, se = stratified_gain(d[:worst], d[worst:], n)
    return {
        "workdir": workdir, "step": model.step, "k_small": small, "k_large": large,
        "test_images": n, "worst": worst, "random": random,
        f"bpd_k{small}": float(bpd_small.mean()),
        f"bpd_k{large}_estimate": float(bpd_small.mean()) - gain,
        "gain": gain, "gain_standard_error": se,
        "gain_worst_stratum": float(d[:worst].mean()) if worst else 0.0,
        "gain_random_stratum": float(d[worst:].mean()),
        "bpd_worst_stratum_small_k": float(bpd_small[worst_images].mean()) if worst else 0.0,
        "seconds_small_k": seconds_small, "seconds_large_k": seconds_large,
    }


def define_flags() -> None:
    """The command line's flags; defined only when run as a script, so that importing this
    module next to another entry point (experiments.evaluate also has --workdir) works."""
    flags.DEFINE_string("workdir", None, "A trained run's workdir.", required=True)
    flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
    flags.DEFINE_list("k", ["4", "64"], "The small and the large IWAE k.")
    flags.DEFINE_integer("worst", 200, "Images of highest bpd rescored (all of them).")
    flags.DEFINE_integer("random", 300, "Other images rescored, drawn uniformly.")
    flags.DEFINE_integer("chunk", 16, "eval.iwae_chunk for the large k.")
    flags.DEFINE_integer("batch_size", 100, "Images per bpd call.")
    flags.DEFINE_integer("seed", 0, "Draws the random stratum and the IWAE noise.")
    flags.DEFINE_string("name", "iwae_gap", "Results file name.")


def main(_):
    f = flags.FLAGS
    small, large = (int(k) for k in f.k)
    result = estimate(f.workdir, f.step, small, large, f.worst, f.random, f.chunk, f.batch_size,
                      f.seed)
    print(json.dumps(result, indent=1))
    print(f"wrote {common.write_results(f.name, result)}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
