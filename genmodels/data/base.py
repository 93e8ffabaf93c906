"""Shared pieces: dataset metadata and the random-access source protocol."""
from __future__ import annotations

import abc
import dataclasses
import operator

import numpy as np

SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset as the models see it (after resizing)."""

    name: str
    kind: str  # "image" or "points"
    shape: tuple[int, ...]  # one example: (H, W, C) for images, (2,) for points
    num_train: int | None  # None: a TFDS dataset that is not prepared on this machine.
    num_test: int | None
    num_classes: int | None = None
    factor_names: tuple[str, ...] | None = None
    factor_sizes: tuple[int, ...] | None = None
    modes: np.ndarray | None = dataclasses.field(default=None, compare=False)  # [K, 2]
    mode_std: float | None = None
    # Pixel values are the levels round(k 255 / (num_levels - 1)), k = 0..num_levels - 1
    # (data.level_value): 256 for photographs, 17 for digits (0..16 rescaled), 2 for dsprites.
    num_levels: int = 256


class Source(abc.ABC):
    """Random-access examples.

    Subclasses define `__len__` and `read_batch(indices)`, which returns a dict of arrays
    stacked along a leading batch axis; `source[i]` is one row of it.
    """

    @abc.abstractmethod
    def __len__(self) -> int:
        ...

    @abc.abstractmethod
    def read_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        ...

    def __getitem__(self, index) -> dict[str, np.ndarray]:
        index = operator.index(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a source of length {len(self)}")
        return {k: v[0] for k, v in self.read_batch(np.array([index])).items()}


class ArraySource(Source):
    """A source over in-memory arrays sharing their leading dimension."""

    def __init__(self, **arrays: np.ndarray):
        sizes = {len(v) for v in arrays.values()}
        if len(sizes) != 1:
            lengths = {k: len(v) for k, v in arrays.items()}
            raise ValueError(f"arrays have different lengths: {lengths}")
        self.arrays = arrays

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def read_batch(self, indices):
        return {k: v[indices] for k, v in self.arrays.items()}


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def holdout_size(num_examples: int) -> int:
    """Size of the fixed test subset held out from a dataset that has only one split."""
    return min(10_000, max(1, num_examples // 10))


def holdout_indices(num_examples: int, seed: int) -> np.ndarray:
    """Sorted indices of the fixed test subset (a function of `num_examples` and `seed` only)."""
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(num_examples, holdout_size(num_examples), replace=False))
    indices.flags.writeable = False
    return indices
