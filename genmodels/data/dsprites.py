"""Procedural dSprites (Matthey et al. 2017): the exact factor grid, rendered on demand.

Example i has the factor indices `np.unravel_index(i, FACTOR_SIZES)` (posY varies fastest, as in
the original file). Geometry, in image coordinates where [0, 1]^2 is the whole image, x to the
right and y down:

- the shape's centre is `MARGIN + pos * (1 - 2 * MARGIN)` for pos = posX, posY in linspace(0, 1);
- its size is `scale * HALF_SIZE` (half the side of the square), scale in linspace(0.5, 1, 6);
- it is rotated by `orientation` (counter-clockwise on screen), linspace(0, 2pi, 40) without the
  endpoint;
- shapes: square (side 2), ellipse (semi-axes 1 and 1/2), heart (the curve
  (x^2 + y^2 - 1)^3 = x^2 y^3, centred and scaled to half-extent ~1), in units of the size.

A pixel is 255 when its centre lies inside the shape, else 0; the 32x32 option samples the same
shapes at 32x32 pixel centres.
"""
import functools

import numpy as np

from genmodels.data.base import DatasetInfo, Source, holdout_indices

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_IMAGES = int(np.prod(FACTOR_SIZES))  # 737,280
SHAPES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40, endpoint=False)
POSITIONS = np.linspace(0.0, 1.0, 32)
SIZES = (64, 32)  # Allowed data.image_size values; the first is the default.
HALF_SIZE = 0.12
MARGIN = 0.18  # > HALF_SIZE * sqrt(2): every rotated shape stays inside the image.
_TEST_SEED = 0


def factors_of(indices) -> np.ndarray:
    """Flat indices [B] -> factor indices int32 [B, 5] in the order of FACTOR_NAMES."""
    return np.stack(np.unravel_index(np.asarray(indices), FACTOR_SIZES), -1).astype(np.int32)


def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= 1


def _ellipse(u, v):
    return u**2 + (2 * v) ** 2 <= 1


def _heart(u, v):
    x, y = 1.118 * u, 1.118 * v + 0.118  # the curve's bounding box [-1.14, 1.14] x [-1, 1.24]
    x2, y2 = x * x, y * y
    r = x2 + y2 - 1
    return r * r * r <= x2 * y2 * y


def render(factors, image_size: int = 64) -> np.ndarray:
    """Factor indices [B, 5] -> uint8 images [B, image_size, image_size, 1] with values 0 or 255."""
    factors = np.asarray(factors)
    shape = factors[:, 0]
    scale, angle, pos_x, pos_y = (factors[:, i, None, None] for i in range(1, 5))
    size = (SCALES[scale] * HALF_SIZE).astype(np.float32)
    angle = ORIENTATIONS[angle].astype(np.float32)
    centre_x = MARGIN + POSITIONS[pos_x].astype(np.float32) * (1 - 2 * MARGIN)
    centre_y = MARGIN + POSITIONS[pos_y].astype(np.float32) * (1 - 2 * MARGIN)
    grid = (np.arange(image_size, dtype=np.float32) + 0.5) / image_size  # pixel centres
    dx, dy = grid[None, None, :] - centre_x, grid[None, :, None] - centre_y
    # Rotate into the shape's frame (u right, v up): counter-clockwise on screen by `angle`.
    cos, sin = np.cos(angle) / size, np.sin(angle) / size
    u = cos * dx - sin * dy
    v = -sin * dx - cos * dy
    inside = np.zeros(u.shape, bool)
    for index, is_inside in enumerate((_square, _ellipse, _heart)):  # order of SHAPES
        mask = shape == index
        inside[mask] = is_inside(u[mask], v[mask])
    return (inside * np.uint8(255))[..., None]


@functools.lru_cache(maxsize=None)
def test_indices() -> np.ndarray:
    """The fixed 10,000-image test subset (sorted flat indices)."""
    return holdout_indices(NUM_IMAGES, _TEST_SEED)


def info(image_size: int) -> DatasetInfo:
    return DatasetInfo("dsprites", "image", (image_size, image_size, 1), NUM_IMAGES,
                       len(test_indices()), factor_names=FACTOR_NAMES, factor_sizes=FACTOR_SIZES,
                       num_levels=2)


class DSpritesSource(Source):
    """`{"image": uint8 [S, S, 1], "factors": int32 [5]}` for the given flat indices."""

    def __init__(self, indices: np.ndarray | None, image_size: int):
        self.indices, self.image_size = indices, image_size  # indices None: all images

    def __len__(self) -> int:
        return NUM_IMAGES if self.indices is None else len(self.indices)

    def read_batch(self, indices):
        flat = np.asarray(indices) if self.indices is None else self.indices[indices]
        factors = factors_of(flat)
        return {"image": render(factors, self.image_size), "factors": factors}


def source(split: str, image_size: int) -> DSpritesSource:
    """Train: all 737,280 images; test: the fixed subset `test_indices()` (also in train)."""
    return DSpritesSource(None if split == "train" else test_indices(), image_size)
