"""Compare two image sets on the FID Inception network, as pytorch-fid and clean-fid do.

  python -m experiments.evaluate --compare A B --metrics=fid,kid,precision,recall,density,coverage

A (the reference, "real") and B (the compared set, "fake") are each an .npz holding an array
`x` (uint8 [N, H, W, C], C in {1, 3}) or a folder of PNG images (all of one size). Features are
the 2048-d pool3 of inception.py's network (weights from inception.require_weights);
precision/recall and density/coverage use at most `prdc_num_samples` features of each set,
drawn uniformly at random with `seed`.
"""

import glob
import math
import os

import numpy as np

from genmodels import parallel
from genmodels.metrics import features as features_lib
from genmodels.metrics import fid as fid_lib
from genmodels.metrics import prdc

METRICS = ("fid", "kid", "precision", "recall", "density", "coverage")
FEATURES = ("inception",)


def load_images(path: str) -> np.ndarray:
    """uint8 [N, H, W, C in {1, 3}] from an .npz with array `x` or a folder of PNG images."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.png")))
        if not files:
            raise ValueError(f"{path} holds no .png images.")
        from PIL import Image  # noqa: PLC0415 (only for folders)

        images = []
        for name in files:
            with Image.open(name) as image:
                image = image.convert("L" if image.mode in ("1", "L", "I;16", "I") else "RGB")
                images.append(np.asarray(image))
        if len({im.shape for im in images}) > 1:
            raise ValueError(f"The PNG images in {path} differ in size "
                             f"({sorted({im.shape for im in images})}); resize them to one size.")
        x = np.stack(images)
    elif path.endswith(".npz") and os.path.isfile(path):
        with np.load(path) as f:
            if "x" not in f.files:
                raise ValueError(f"{path} has no array 'x' (found: {', '.join(f.files)}).")
            x = f["x"]
    else:
        raise ValueError(f"{path} is neither a folder of PNG images nor an .npz file.")
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"{path}: images must be uint8 [N, H, W, C] with C in {{1, 3}}; got "
                         f"{x.dtype} {x.shape}.")
    return x


def _batches(images: np.ndarray, batch_size: int, mesh):
    sharding = parallel.data_sharding(mesh)
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        mask = np.arange(batch_size) < len(chunk)
        padded = np.concatenate([chunk, np.zeros((batch_size - len(chunk), *chunk.shape[1:]),
                                                 chunk.dtype)])
        yield parallel.global_batch({"image": padded}, sharding)["image"], mask


def image_features(images: np.ndarray, apply_fn, mesh, batch_size: int = 50,
                   desc: str = "features") -> np.ndarray:
    """Features [N, D] of uint8 images with apply_fn (features.jit_extractor), batched and
    sharded over the mesh's data axis."""
    parallel.check_batch_size(batch_size, "batch_size", mesh)
    return features_lib.extract(apply_fn, _batches(images, batch_size, mesh),
                                math.ceil(len(images) / batch_size), desc)["features"]


def metrics_of_features(real: np.ndarray, fake: np.ndarray, metrics=METRICS, *, seed: int = 0,
                        kid_subsets: int = 100, kid_subset_size: int = 1000, pr_k: int = 3,
                        dc_k: int = 5, prdc_num_samples: int = 10_000) -> dict:
    """The requested metrics of fake [M, D] against real [N, D] with their sample counts."""
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"Unknown metrics {unknown} for comparing image sets; valid: "
                         f"{', '.join(METRICS)}.")
    n, m = len(real), len(fake)
    out = {}
    if "fid" in metrics:
        out.update(fid=fid_lib.fid_from_features(real, fake), fid_num_samples=m, fid_num_real=n)
    if "kid" in metrics:
        mean, std = fid_lib.kernel_inception_distance(real, fake, kid_subsets, kid_subset_size,
                                                      seed=seed)
        out.update(kid=mean, kid_std=std, kid_num_samples=m, kid_num_real=n)
    out.update(prdc.prdc_metrics(real, fake, metrics, prdc_num_samples, pr_k, dc_k, seed))
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}


def compare(path_a: str, path_b: str, metrics=METRICS, features: str = "inception",
            inception_weights: str | None = None, cache_dir: str | None = None,
            batch_size: int = 50, **kwargs) -> dict:
    """Metrics of set B against reference set A (paths as load_images) on the features' space
    (batches of batch_size images, fewer for small sets):
    {"a", "b", "num_a", "num_b", "features", <metric>, <metric>_num_samples, ...}."""
    if features not in FEATURES:
        raise ValueError(f"--features={features!r} cannot compare image sets; valid: "
                         f"{', '.join(FEATURES)}.")
    a, b = load_images(path_a), load_images(path_b)
    extractor = features_lib.inception_extractor(inception_weights, cache_dir)
    mesh = parallel.make_mesh()
    batch_size = -(-min(batch_size, max(len(a), len(b))) // mesh.size) * mesh.size
    apply_fn = features_lib.jit_extractor(extractor, mesh)
    real = image_features(a, apply_fn, mesh, batch_size, f"features of {path_a}")
    fake = image_features(b, apply_fn, mesh, batch_size, f"features of {path_b}")
    return {"a": path_a, "b": path_b, "num_a": len(a), "num_b": len(b),
            "features": extractor.name, **metrics_of_features(real, fake, metrics, **kwargs)}
