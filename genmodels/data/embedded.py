"""Embedded datasets built in memory from what the installed packages ship (no network).

- `ring8` / `grid25`: points from Gaussian mixtures (VEEGAN / PacGAN protocol), a fixed train
  and test sample drawn from fixed seeds.
- `digits`: scikit-learn's bundled 8x8 handwritten digits, rescaled from 0..16 to 0..255.
- `patches`: square RGB patches cut on a regular grid from photographs bundled with
  scikit-image and scikit-learn; the test split uses whole held-out photographs.
"""
import functools
import importlib.resources
import zlib

import numpy as np
from PIL import Image

from genmodels.data.base import ArraySource, DatasetInfo, Source, SPLITS

# ---------------------------------------------------------------------------------------------
# Gaussian mixtures in the plane.

POINT_DATASETS = ("ring8", "grid25")
NUM_POINTS = {"train": 100_000, "test": 10_000}
MODE_STD = {"ring8": 0.01, "grid25": 0.05}


def mixture_modes(name: str) -> np.ndarray:
    """Mixture centres [K, 2]: 8 on the unit circle, or the 5x5 grid {-4, -2, 0, 2, 4}^2."""
    if name == "ring8":
        angles = 2 * np.pi * np.arange(8) / 8
        return np.stack([np.cos(angles), np.sin(angles)], -1).astype(np.float32)
    grid = np.array([-4.0, -2.0, 0.0, 2.0, 4.0], np.float32)
    return np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)


def points_info(name: str) -> DatasetInfo:
    modes = mixture_modes(name)
    return DatasetInfo(name, "points", (2,), NUM_POINTS["train"], NUM_POINTS["test"],
                       num_classes=len(modes), modes=modes, mode_std=MODE_STD[name])


@functools.lru_cache(maxsize=None)
def points_source(name: str, split: str) -> ArraySource:
    """`{"x": float32 [2], "label": int32 mode index}`; the sample is fixed by (name, split)."""
    modes = mixture_modes(name)
    rng = np.random.default_rng([zlib.crc32(name.encode()), SPLITS.index(split)])
    label = rng.integers(len(modes), size=NUM_POINTS[split]).astype(np.int32)
    noise = rng.standard_normal((NUM_POINTS[split], 2), dtype=np.float32)
    return ArraySource(x=modes[label] + MODE_STD[name] * noise, label=label)


# ---------------------------------------------------------------------------------------------
# scikit-learn digits.

DIGITS_NUM_TRAIN = 1500  # of 1,797; the other 297 are the test split.
_DIGITS_SPLIT_SEED = 0
DIGITS_LEVELS = 17  # scikit-learn's values 0..16, stored as round(k 255 / 16).
DIGITS_SIZES = (8, 16, 32, 64)  # Allowed data.image_size values; 8 (native) is the default.


def digits_info(size: int = 8) -> DatasetInfo:
    return DatasetInfo("digits", "image", (size, size, 1), DIGITS_NUM_TRAIN,
                       1797 - DIGITS_NUM_TRAIN, num_classes=10, num_levels=DIGITS_LEVELS)


@functools.lru_cache(maxsize=None)
def digits_source(split: str, size: int = 8) -> ArraySource:
    """A fixed random permutation's first 1,500 examples are train, the rest test (each sorted).

    size > 8 enlarges the images by exact pixel replication (for architectures that need
    32 px or more, e.g. SNGAN); the pixel values are unchanged."""
    from sklearn.datasets import load_digits  # Reads the CSV bundled with scikit-learn.

    digits = load_digits()
    perm = np.random.default_rng(_DIGITS_SPLIT_SEED).permutation(len(digits.target))
    index = np.sort(perm[:DIGITS_NUM_TRAIN] if split == "train" else perm[DIGITS_NUM_TRAIN:])
    image = np.round(digits.images[index] * 255 / (DIGITS_LEVELS - 1)).astype(np.uint8)[..., None]
    factor = size // 8
    image = image.repeat(factor, axis=1).repeat(factor, axis=2)
    return ArraySource(image=image, label=digits.target[index].astype(np.int32))


# ---------------------------------------------------------------------------------------------
# Natural image patches.

PATCH_SIZES = (16, 8, 32, 64)  # Allowed data.image_size values; the first is the default.
# (package, file) of each photograph; whole photographs are held out for the test split.
PATCH_PHOTOS = {
    "train": (("skimage.data", "astronaut.png"), ("skimage.data", "coffee.png"),
              ("skimage.data", "rocket.jpg"), ("skimage.data", "motorcycle_left.png"),
              ("sklearn.datasets.images", "china.jpg")),
    "test": (("skimage.data", "chelsea.png"), ("sklearn.datasets.images", "flower.jpg")),
}


def patch_stride(size: int) -> int:
    """Patches are cut every size // 2 pixels (half-overlapping) in both directions."""
    return size // 2


def _read_photo(package: str, filename: str) -> np.ndarray:
    path = importlib.resources.files(package) / filename
    if not path.is_file():
        raise FileNotFoundError(f"{filename} is not bundled with the installed {package}; the "
                                "'patches' dataset needs it (it is never downloaded).")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


class PatchSource(Source):
    """`{"image": uint8 [size, size, 3]}` patches on a regular grid over each photograph."""

    def __init__(self, photos: list[np.ndarray], size: int, stride: int):
        self.photos, self.size = photos, size
        grids = [np.stack(np.meshgrid(np.arange(0, p.shape[0] - size + 1, stride),
                                      np.arange(0, p.shape[1] - size + 1, stride),
                                      indexing="ij"), -1).reshape(-1, 2) for p in photos]
        self.photo = np.concatenate([np.full(len(g), i) for i, g in enumerate(grids)])
        self.corner = np.concatenate(grids)  # [N, 2] top-left (row, column)

    def __len__(self) -> int:
        return len(self.photo)

    def read_batch(self, indices):
        s = self.size
        return {"image": np.stack([self.photos[self.photo[i]][y:y + s, x:x + s]
                                   for i, (y, x) in zip(indices, self.corner[indices])])}


@functools.lru_cache(maxsize=None)
def patches_source(split: str, size: int) -> PatchSource:
    photos = [_read_photo(*photo) for photo in PATCH_PHOTOS[split]]
    return PatchSource(photos, size, patch_stride(size))


def patches_info(size: int) -> DatasetInfo:
    return DatasetInfo("patches", "image", (size, size, 3), len(patches_source("train", size)),
                       len(patches_source("test", size)))
