"""FID, Inception Score and KID on feature arrays, and cached reference statistics.

All statistics are float64 on the host (numpy): the scores are sums of many small terms and
float32 covariances of 2048-d features lose digits that FID differences depend on.
"""

import hashlib
import json
import logging
import os

import numpy as np

log = logging.getLogger(__name__)

CACHE_ENV = "GENMODELS_CACHE_DIR"
DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "genmodels")


class RunningStats:
    """Streaming mean and covariance in float64: add feature batches, then `mean_cov()`."""

    def __init__(self):
        self.n, self.sum, self.outer = 0, None, None

    def add(self, features) -> None:
        f = np.asarray(features, np.float64)
        if self.sum is None:
            self.sum, self.outer = np.zeros(f.shape[1]), np.zeros((f.shape[1], f.shape[1]))
        self.n += len(f)
        self.sum += f.sum(0)
        self.outer += f.T @ f

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """mu = sum f / n;  Sigma = (sum f f^T - n mu mu^T) / (n - 1) (unbiased, as np.cov)."""
        if self.n < 2:
            raise ValueError(f"Need at least 2 feature vectors for a covariance, got {self.n}.")
        mu = self.sum / self.n
        return mu, (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)


def statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """(mean [D], covariance [D, D]) of features [N, D] in float64."""
    stats = RunningStats()
    stats.add(features)
    return stats.mean_cov()


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root through eigh, negative round-off eigenvalues clipped."""
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr sqrt(S1 S2) = sum_i sqrt(lambda_i(S1^1/2 S2 S1^1/2)).

    S1 S2 is similar to the symmetric PSD matrix S1^1/2 S2 S1^1/2, so its eigenvalues are real
    and >= 0 even when N < D makes both covariances singular (where scipy's sqrtm warns and
    pytorch-fid adds eps * I)."""
    root = _psd_sqrt(np.asarray(sigma1, np.float64))
    m = root @ np.asarray(sigma2, np.float64) @ root
    return float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None))))


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)  (Heusel et al. 2017)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)
                 - 2 * trace_sqrt_product(sigma1, sigma2))


def fid_from_features(real, fake) -> float:
    return frechet_distance(*statistics(real), *statistics(fake))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def inception_score(logits, splits: int = 10) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))) per split, p(y) the split's mean prediction;
    returns (mean, std) over `splits` consecutive splits (Salimans et al. 2016)."""
    logp = _log_softmax(np.asarray(logits, np.float64))
    scores = []
    for part in np.array_split(logp, splits):
        log_py = np.log(np.mean(np.exp(part), axis=0))
        kl = np.sum(np.exp(part) * (part - log_py), axis=1)
        scores.append(np.exp(np.mean(kl)))
    return float(np.mean(scores)), float(np.std(scores))


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x . y / d + 1)^3."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 = sum_{i!=j} k(x_i,x_j)/(m(m-1)) + sum_{i!=j} k(y_i,y_j)/(n(n-1))
    - 2 sum_ij k(x_i,y_j)/(mn); its expectation is 0 when x and y share a distribution, so
    single estimates can be negative."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean())


def kernel_inception_distance(real, fake, num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): mean and std of mmd2_unbiased over `num_subsets` random
    subsets of min(subset_size, N_real, N_fake) features of each set (without replacement)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError(f"KID needs at least 2 features per set, got {len(real)}, {len(fake)}.")
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(real[rng.choice(len(real), m, replace=False)],
                            fake[rng.choice(len(fake), m, replace=False)])
              for _ in range(num_subsets)]
    return float(np.mean(values)), float(np.std(values))


# ---------------------------------------------------------------------------------------------
# Reference statistics, computed once per (dataset, split, size, extractor, N) and cached.

def cache_dir(configured: str | None = None) -> str:
    """eval.cache_dir, else $GENMODELS_CACHE_DIR, else ~/.cache/genmodels."""
    return os.path.expanduser(configured or os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


def reference_key(dataset: str, split: str, image_size: int, extractor: str,
                  num_real: int) -> str:
    """Readable, filesystem-safe cache key of one reference set."""
    key = f"{dataset}_{split}_{image_size}px_{extractor}_n{num_real}"
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in key)


def cached_reference(directory: str, key: str, compute) -> dict:
    """Reference {"features", "logits"?, "mu", "sigma", "num": int} from
    `directory/reference/key.npz`, or `compute()` (-> features, logits or None) saved there."""
    path = os.path.join(directory, "reference", key + ".npz")
    if os.path.exists(path):
        with np.load(path) as f:
            ref = {k: f[k] for k in f.files}
        log.info("Reference statistics from %s.", path)
        return ref
    features, logits = compute()
    mu, sigma = statistics(features)
    ref = {"features": np.asarray(features, np.float32), "mu": mu, "sigma": sigma,
           "num": np.asarray(len(features))}
    if logits is not None:
        ref["logits"] = np.asarray(logits, np.float32)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + f".tmp{os.getpid()}.npz"
    np.savez(tmp, **ref)
    os.replace(tmp, path)
    log.info("Reference statistics of %d examples written to %s.", len(features), path)
    return ref


def file_digest(path: str, length: int = 10) -> str:
    """Short sha256 of a file (names the Inception weights in cache keys)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def json_digest(obj, length: int = 10) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:length]
