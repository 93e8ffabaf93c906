"""Reference likelihoods that give a model's bits/dim a scale.

The per-pixel independent histogram (every sub-pixel its own 256-bin categorical fitted on the
training split, no dependence between sub-pixels) is the weakest sensible image model: a
likelihood model that does not beat it clearly has learned nothing about pixel correlations.
"""

import math

import numpy as np

from genmodels.data import base


def histogram_bpd(train_uint8: np.ndarray, test_uint8: np.ndarray,
                  pseudocount: float = 1.0) -> float:
    """Mean test bits/dim of the per-pixel histogram (`histogram_bpd_per_image`)."""
    return float(histogram_bpd_per_image(train_uint8, test_uint8, pseudocount).mean())


def histogram_bpd_per_image(train_uint8: np.ndarray, test_uint8: np.ndarray,
                            pseudocount: float = 1.0) -> np.ndarray:
    """Bits/dim [N_test] of each test image under prod_d p_d(x_d),
    p_d(v) = (n_d(v) + a) / (N + 256 a).

    n_d(v) counts training examples with value v at sub-pixel d; a is the (Laplace) pseudo-count,
    which keeps values unseen in training finite. Arrays are uint8 [N, ...] with equal trailing
    shapes. With a -> infinity (or uniform counts) this is exactly 8 bits/dim.
    """
    train, test = np.asarray(train_uint8), np.asarray(test_uint8)
    if train.dtype != np.uint8 or test.dtype != np.uint8:
        raise ValueError(f"histogram_bpd needs uint8 images; got {train.dtype} and {test.dtype}.")
    if train.shape[1:] != test.shape[1:]:
        raise ValueError(f"train and test images differ in shape: {train.shape[1:]} vs "
                         f"{test.shape[1:]}.")
    if not pseudocount > 0:
        raise ValueError(f"pseudocount={pseudocount!r} must be > 0 (unseen values need mass).")
    dims = math.prod(train.shape[1:])
    flat_index = np.arange(dims) * 256 + train.reshape(len(train), dims).astype(np.int64)
    counts = np.bincount(flat_index.ravel(), minlength=dims * 256).reshape(dims, 256)
    log_p = np.log(counts + pseudocount) - np.log(len(train) + 256 * pseudocount)
    test_log_p = log_p[np.arange(dims), test.reshape(len(test), dims)]  # [N_test, D]
    return -test_log_p.sum(1) / (dims * math.log(2))


def split_images(source: base.Source, batch_size: int = 4096) -> np.ndarray:
    """All images ("image") of a source as one uint8 array (for the small embedded datasets)."""
    parts = [source.read_batch(np.arange(i, min(i + batch_size, len(source))))["image"]
             for i in range(0, len(source), batch_size)]
    return np.concatenate(parts)
