"""Mode coverage on 2-D Gaussian mixtures (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).

A sample is high quality if it lies within `threshold` standard deviations of its nearest mode;
a mode is covered if it is the nearest mode of at least one high-quality sample. reverse_kl is
KL(q || uniform) where q is the histogram of the nearest modes of the high-quality samples
(0 ln 0 = 0; infinite if no sample is high quality) — the PacGAN protocol. `distance_profile`
says where the other samples lie.
"""

import numpy as np


def nearest_modes(samples: np.ndarray, modes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the nearest mode, Euclidean distance to it) of each of samples [N, 2]."""
    samples, modes = np.asarray(samples, np.float64), np.asarray(modes, np.float64)
    distances = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=-1)
    nearest = np.argmin(distances, axis=1)
    return nearest, distances[np.arange(len(samples)), nearest]


def mode_coverage(samples: np.ndarray, modes: np.ndarray, std: float,
                  threshold: float = 3.0) -> dict:
    """{'modes', 'hq_fraction', 'reverse_kl', 'modes_num_samples'} of samples [N, 2]."""
    nearest, distance = nearest_modes(samples, modes)
    high_quality = distance <= threshold * std
    counts = np.bincount(nearest[high_quality], minlength=len(modes))
    if counts.sum() == 0:
        reverse_kl = float("inf")
    else:
        q = counts[counts > 0] / counts.sum()
        reverse_kl = float(np.sum(q * np.log(q * len(modes))))
    return {"modes": int(np.count_nonzero(counts)), "hq_fraction": float(high_quality.mean()),
            "reverse_kl": reverse_kl, "modes_num_samples": int(len(samples))}


def distance_profile(samples: np.ndarray, modes: np.ndarray, std: float,
                     threshold: float = 3.0, near: float = 6.0) -> dict:
    """Where samples [N, 2] lie against the modes, distances d to the nearest mode in units of
    std: hq_fraction (d <= threshold, as `mode_coverage`), near_fraction (threshold < d <= near:
    a mode drawn too wide) and between_fraction (d > near: mass between the modes), and
    hq_spread, the per-axis RMS offset of the high-quality samples from their modes over std,
    sqrt(E[|x - m|^2 | d <= threshold] / 2) / std: for the data's own N(m, std^2 I) points
    sqrt(1 - t^2 e^{-t^2/2} / (2 (1 - e^{-t^2/2}))) = 0.974 at t = 3; NaN without such samples."""
    _, distance = nearest_modes(samples, modes)
    high_quality = distance <= threshold * std  # The same test as mode_coverage's.
    far = distance > near * std
    spread = (float(np.sqrt(np.mean((distance[high_quality] / std) ** 2) / 2))
              if high_quality.any() else float("nan"))
    return {"hq_fraction": float(high_quality.mean()),
            "near_fraction": float((~high_quality & ~far).mean()),
            "between_fraction": float(far.mean()), "hq_spread": spread}
