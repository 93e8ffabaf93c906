"""Mode coverage on 2-D Gaussian mixtures (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).

A sample is high quality if it lies within `threshold` standard deviations of its nearest mode;
a mode is covered if it is the nearest mode of at least one high-quality sample. reverse_kl is
KL(q || uniform) where q is the histogram of the nearest modes of the high-quality samples
(0 ln 0 = 0; infinite if no sample is high quality) — the PacGAN protocol.
"""

import numpy as np


def mode_coverage(samples: np.ndarray, modes: np.ndarray, std: float,
                  threshold: float = 3.0) -> dict:
    """{'modes', 'hq_fraction', 'reverse_kl', 'modes_num_samples'} of samples [N, 2]."""
    samples, modes = np.asarray(samples, np.float64), np.asarray(modes, np.float64)
    distances = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=-1)
    nearest = np.argmin(distances, axis=1)
    high_quality = distances[np.arange(len(samples)), nearest] <= threshold * std
    counts = np.bincount(nearest[high_quality], minlength=len(modes))
    if counts.sum() == 0:
        reverse_kl = float("inf")
    else:
        q = counts[counts > 0] / counts.sum()
        reverse_kl = float(np.sum(q * np.log(q * len(modes))))
    return {"modes": int(np.count_nonzero(counts)), "hq_fraction": float(high_quality.mean()),
            "reverse_kl": reverse_kl, "modes_num_samples": int(len(samples))}
