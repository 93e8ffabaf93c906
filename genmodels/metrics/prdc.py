"""Precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Real features X = {x_i}, i < N, fake features Y = {y_j}, j < M, in any feature space (Inception
pool features for images). NND_k(x_i) is the distance from x_i to its k-th nearest neighbour in
its own set, the point itself excluded, and B(x, r) the ball of radius r around x.

  precision = 1/M sum_j 1[exists i: y_j in B(x_i, NND_k(x_i))]      (fake inside the real manifold)
  recall    = 1/N sum_i 1[exists j: x_i in B(y_j, NND_k(y_j))]      (real inside the fake manifold)
  density   = 1/(kM) sum_j sum_i 1[y_j in B(x_i, NND_k(x_i))]
  coverage  = 1/N sum_i 1[exists j: y_j in B(x_i, NND_k(x_i))]

Precision and density fall when fakes leave the real support (over-generalisation); recall and
coverage fall when the fakes miss part of it (mode dropping). Balls are closed (<=) for
precision/recall, as in Kynkaanniemi et al.'s code, and open (<) for density/coverage, as in
Naeem et al.'s `prdc` package. Defaults k=3 (precision/recall) and k=5 (density/coverage) are the
papers'.

Memory: distances are computed `chunk_size` rows at a time against the whole other set (one
jitted function per chunk shape, the last chunk padded), so the peak is chunk_size x max(N, M)
floats, never N x M. Features are centred on the real mean (distances are unchanged) and the
distance matmul runs at the highest precision, so float32 is accurate enough.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_CHUNK_SIZE = 1024


@jax.jit
def _sq_distances(a, b):
    """Squared Euclidean distances [n, m] between the rows of a [n, D] and b [m, D]."""
    cross = jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST)
    d2 = jnp.sum(a * a, 1)[:, None] + jnp.sum(b * b, 1)[None, :] - 2.0 * cross
    return jnp.maximum(d2, 0.0)


@functools.partial(jax.jit, static_argnames="k")
def _smallest_sq_distances_chunk(chunk, points, k):
    """Negated k+1 smallest squared distances [c, k + 1] of each chunk row to `points`.

    Returned whole: slicing one column inside the jit lets XLA (CPU) turn top_k into a full sort,
    40x slower.
    """
    neg_smallest, _ = jax.lax.top_k(-_sq_distances(chunk, points), k + 1)
    return neg_smallest


@jax.jit
def _pr_chunk(real_chunk, real_r2_chunk, fake, fake_r2):
    """(fake inside some ball of this real chunk [M], real row inside some fake ball [c])."""
    d2 = _sq_distances(real_chunk, fake)
    fake_in_real = jnp.any(d2 <= real_r2_chunk[:, None], axis=0)
    real_in_fake = jnp.any(d2 <= fake_r2[None, :], axis=1)
    return fake_in_real, real_in_fake


@jax.jit
def _dc_chunk(real_chunk, real_r2_chunk, fake):
    """(number of balls of this real chunk containing each fake [M], real ball covered [c])."""
    inside = _sq_distances(real_chunk, fake) < real_r2_chunk[:, None]
    return jnp.sum(inside, axis=0, dtype=jnp.int32), jnp.any(inside, axis=1)


def _chunks(x: np.ndarray, chunk_size: int):
    """Yields (start, chunk padded to chunk_size rows with zeros, number of valid rows)."""
    size = min(chunk_size, len(x))
    for start in range(0, len(x), size):
        chunk = x[start:start + size]
        valid = len(chunk)
        if valid < size:
            chunk = np.concatenate([chunk, np.zeros((size - valid, x.shape[1]), x.dtype)])
        yield start, chunk, valid


def _pad(values: np.ndarray, size: int, fill: float) -> np.ndarray:
    return np.concatenate([values, np.full(size - len(values), fill, values.dtype)])


def kth_neighbour_sq_radii(points, k: int, chunk_size: int = DEFAULT_CHUNK_SIZE) -> np.ndarray:
    """NND_k(p)^2 for every row p of points [N, D], the point itself excluded: float32 [N]."""
    points = np.asarray(points, np.float32)
    all_points = jnp.asarray(points)
    radii = np.empty(len(points), np.float32)
    for start, chunk, valid in _chunks(points, chunk_size):
        # Each row is its own nearest point (distance 0): NND_k is the (k+1)-th smallest.
        neg_smallest = _smallest_sq_distances_chunk(chunk, all_points, k)
        radii[start:start + valid] = -np.asarray(neg_smallest)[:valid, k]
    return radii


def _prepare(real, fake, k: int, min_fake: int) -> tuple[np.ndarray, np.ndarray]:
    """Validates shapes and k, returns both sets as float32 centred on the real mean."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and fake must be [N, D] and [M, D]; got {real.shape} and "
                         f"{fake.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if len(real) <= k or len(fake) < min_fake:
        raise ValueError(f"k={k} needs more than k real features (got {len(real)}) and at "
                         f"least {min_fake} fake features (got {len(fake)})")
    mean = real.mean(0)
    return (real - mean).astype(np.float32), (fake - mean).astype(np.float32)


def precision_recall(real, fake, k: int = 3,
                     chunk_size: int = DEFAULT_CHUNK_SIZE) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of fake [M, D] against real [N, D].

    precision = share of fakes inside the union of the real k-NN balls; recall = share of reals
    inside the union of the fake k-NN balls (closed balls, the point excluded from its own k-NN).
    """
    real, fake = _prepare(real, fake, k, min_fake=k + 1)
    real_r2 = kth_neighbour_sq_radii(real, k, chunk_size)
    fake_r2 = jnp.asarray(kth_neighbour_sq_radii(fake, k, chunk_size))
    fake_all = jnp.asarray(fake)
    fake_in_real = np.zeros(len(fake), bool)
    real_in_fake = np.zeros(len(real), bool)
    for start, chunk, valid in _chunks(real, chunk_size):
        # Padding rows get radius -1: no distance is <= -1, so they contain no fake.
        r2 = _pad(real_r2[start:start + valid], len(chunk), -1.0)
        in_real, in_fake = _pr_chunk(chunk, r2, fake_all, fake_r2)
        fake_in_real |= np.asarray(in_real)
        real_in_fake[start:start + valid] = np.asarray(in_fake)[:valid]
    return {"precision": float(fake_in_real.mean()), "recall": float(real_in_fake.mean())}


def density_coverage(real, fake, k: int = 5,
                     chunk_size: int = DEFAULT_CHUNK_SIZE) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020) of fake [M, D] against real [N, D].

    density = (1/kM) sum_j sum_i 1[y_j in B(x_i, NND_k(x_i))] (can exceed 1);
    coverage = share of real balls B(x_i, NND_k(x_i)) that contain at least one fake (open balls).
    """
    real, fake = _prepare(real, fake, k, min_fake=1)
    real_r2 = kth_neighbour_sq_radii(real, k, chunk_size)
    fake_all = jnp.asarray(fake)
    counts = np.zeros(len(fake), np.int64)
    covered = np.zeros(len(real), bool)
    for start, chunk, valid in _chunks(real, chunk_size):
        # Padding rows get radius 0: no distance is < 0, so they contain no fake.
        r2 = _pad(real_r2[start:start + valid], len(chunk), 0.0)
        chunk_counts, chunk_covered = _dc_chunk(chunk, r2, fake_all)
        counts += np.asarray(chunk_counts)
        covered[start:start + valid] = np.asarray(chunk_covered)[:valid]
    return {"density": float(counts.sum() / (k * len(fake))), "coverage": float(covered.mean())}


PR_METRICS, DC_METRICS = ("precision", "recall"), ("density", "coverage")


def uniform_subset(x: np.ndarray, num: int, rng: np.random.Generator) -> np.ndarray:
    """`num` rows of x drawn uniformly without replacement over all of x (kept in x's order),
    or all of x when it has at most `num` rows."""
    if len(x) <= num:
        return x
    return x[np.sort(rng.choice(len(x), num, replace=False))]


def prdc_metrics(real, fake, names, num: int, pr_k: int, dc_k: int, seed) -> dict:
    """precision/recall (k = pr_k) and density/coverage (k = dc_k) of the `names` requested, on
    uniform random subsets of `num` features of each set (drawn with `seed`), with their sizes
    prdc_num_samples and prdc_num_real."""
    wants_pr, wants_dc = set(PR_METRICS) & set(names), set(DC_METRICS) & set(names)
    if not (wants_pr or wants_dc):
        return {}
    rng = np.random.default_rng(seed)
    real, fake = uniform_subset(real, num, rng), uniform_subset(fake, num, rng)
    results = {}
    if wants_pr:
        results.update(precision_recall(real, fake, k=pr_k))
    if wants_dc:
        results.update(density_coverage(real, fake, k=dc_k))
    return {**{k: float(v) for k, v in results.items()}, "prdc_num_samples": len(fake),
            "prdc_num_real": len(real)}
