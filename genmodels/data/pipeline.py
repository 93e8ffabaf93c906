"""Per-host numpy batches for training (shuffled, resumable) and evaluation (one ordered pass).

Both pipelines are grain `MapDataset`s over example *indices*: the global batch of step s is a
pure function of (seed, s), so resuming at any step reproduces the same stream, and host p of P
loads only rows [p * b, (p + 1) * b) of each global batch (b = batch_size // P). Batches are
loaded ahead of use by grain's background threads.
"""
from collections.abc import Iterator

import grain
import jax
import numpy as np

from genmodels.data.datasets import get_source

# Threads that load batches ahead of use and how many batches they may hold.
READ_OPTIONS = grain.ReadOptions(num_threads=2, prefetch_buffer_size=4)


def host_rows(batch_size: int, process_index: int | None, process_count: int | None) -> slice:
    """The rows of each global batch that this host loads."""
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    if batch_size <= 0 or batch_size % count:
        raise ValueError(f"data.batch_size={batch_size} must be a positive multiple of the number "
                         f"of processes ({count}); it is the global batch size.")
    if not 0 <= index < count:
        raise ValueError(f"process_index={index} is outside [0, {count}).")
    b = batch_size // count
    return slice(index * b, (index + 1) * b)


def _shuffle_seed(seed: int) -> int:
    # grain reshuffles epoch e with seed + e: hash the seed so that runs with seeds s and s + 1
    # do not share permutations.
    return int(np.random.SeedSequence(seed).generate_state(1)[0])


def train_batches(data_config, *, batch_size: int, seed: int, start_step: int = 0,
                  process_index: int | None = None,
                  process_count: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """Infinite per-host training batches for steps start_step, start_step + 1, ... (an iterator
    over `train_dataset`)."""
    return iter(train_dataset(data_config, batch_size=batch_size, seed=seed, start_step=start_step,
                              process_index=process_index, process_count=process_count))


def train_dataset(data_config, *, batch_size: int, seed: int, start_step: int = 0,
                  process_index: int | None = None,
                  process_count: int | None = None) -> grain.IterDataset:
    """The per-host training batches for steps start_step, start_step + 1, ... as a grain
    IterDataset (the trainer stacks and prefetches it to the devices).

    The global batch of step s holds positions [s * batch_size, (s + 1) * batch_size) of the
    stream of epochs, each epoch a fresh permutation of the train split determined by `seed`.
    """
    rows = host_rows(batch_size, process_index, process_count)
    source = get_source(data_config, "train")
    steps = (grain.MapDataset.range(len(source))
             .shuffle(seed=_shuffle_seed(seed))
             .repeat()  # infinite; epoch e uses its own permutation
             .batch(batch_size))  # step -> the global batch's example indices
    batches = steps[start_step:].map(lambda index: source.read_batch(index[rows]))
    return batches.to_iter_dataset(READ_OPTIONS)


def eval_batches(data_config, split: str, *, batch_size: int, process_index: int | None = None,
                 process_count: int | None = None,
                 max_examples: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """One ordered pass over `split` (its first `max_examples` if given) in per-host batches.

    The last global batch is padded to `batch_size` with copies of example 0; the bool key
    "mask" is True for real rows.
    """
    rows = host_rows(batch_size, process_index, process_count)
    source = get_source(data_config, split)
    num = len(source) if max_examples is None else min(max_examples, len(source))

    def load(index: np.ndarray) -> dict[str, np.ndarray]:
        mask = np.arange(batch_size) < len(index)
        index = np.pad(index, (0, batch_size - len(index)))
        return {**source.read_batch(index[rows]), "mask": mask[rows]}

    batches = grain.MapDataset.range(num).batch(batch_size).map(load)
    return iter(batches.to_iter_dataset(READ_OPTIONS))
