"""The training loop: resume, step, log, check, checkpoint, sample, evaluate."""

import functools
import json
import logging
import os
import time

import grain
import grain.experimental
import jax
import numpy as np

from genmodels import data, evaluation, methods, parallel
from genmodels import workdir as workdir_lib
from genmodels.train import stages
from genmodels.train.checkpoint import Checkpointer
from genmodels.train.images import samples_to_image, save_png
from genmodels.train.precision import check_compute_dtype
from genmodels.train.state import (
    abstract_train_state,
    inference_variables,
    init_train_state,
)
from genmodels.train.step import make_multi_step, make_train_step
from genmodels.train.writers import MetricsWriter

log = logging.getLogger(__name__)

# Logged train metrics that measure speed, not the model: they differ between identical runs.
TIMING_METRICS = ("steps_per_sec", "examples_per_sec", "input_wait_fraction")


class NonFiniteLossError(FloatingPointError):
    """A train step produced a NaN or infinity; the run stopped before saving it."""


def _is_due(done: int, every: int, last: bool) -> bool:
    return last or (every > 0 and done % every == 0)


class _MetricsBuffer:
    """Per-step metrics kept on device and fetched only when logging or checkpointing.

    Each device call adds the metrics of its train steps stacked on axis 0."""

    def __init__(self, owners: dict):
        self.owners = owners
        self.calls: list[tuple[int, dict]] = []  # (first step of the call, stacked metrics)
        self.checked = 0

    def add(self, first_step: int, stacked: dict) -> None:
        self.calls.append((first_step, stacked))

    @staticmethod
    def _per_step(calls) -> list[tuple[int, dict]]:
        host = parallel.to_host([m for _, m in calls])
        return [(first + j, {k: v[j] for k, v in metrics.items()})
                for (first, _), metrics in zip(calls, host)
                for j in range(len(next(iter(metrics.values()))))]

    def check_finite(self, last_checkpoint: int | None) -> None:
        """Raises NonFiniteLossError naming the first bad step, its player and its terms."""
        for step, metrics in self._per_step(self.calls[self.checked:]):
            bad = evaluation.nonfinite_terms(metrics)
            if bad:
                players = sorted({self.owners.get(k, "?") for k in bad})
                raise NonFiniteLossError(
                    f"Non-finite values at train step {step}, player(s) {', '.join(players)}, "
                    f"term(s) {', '.join(bad)}. Training stopped; the last good checkpoint "
                    f"(step {last_checkpoint}) is intact. Lower the learning rate "
                    "(optim.*.learning_rate), enable gradient clipping (optim.*.grad_clip_norm), "
                    "or check the data and the loss.")
        self.checked = len(self.calls)

    def pop_means(self) -> dict:
        steps = [m for _, m in self._per_step(self.calls)]
        means = {k: float(np.mean([np.float64(m[k]) for m in steps])) for k in steps[0]}
        self.calls, self.checked = [], 0
        return means


def _write_samples(workdir, writer, step, samples, info) -> None:
    picture = samples_to_image(parallel.to_host(samples), info.modes)
    if writer.primary:
        save_png(workdir_lib.samples_dir(workdir) / f"step_{step:08d}.png", picture)
    writer.write_images(step, {"samples": picture})


def check_steps_per_call(config) -> None:
    """Logging, checkpoints, samples and evaluation happen between device calls, so their
    intervals (and num_steps) must be multiples of train.steps_per_call."""
    k = config.train.steps_per_call
    if k < 1:
        raise ValueError(f"train.steps_per_call={k} must be >= 1.")
    intervals = {"train.num_steps": config.train.num_steps, "train.log_every":
                 config.train.log_every, "train.checkpoint_every": config.train.checkpoint_every,
                 "train.sample_every": config.train.sample_every, "eval.every": config.eval.every}
    bad = [f"{name}={value}" for name, value in intervals.items() if value % k]
    if bad:
        raise ValueError(f"train.steps_per_call={k} must divide {', '.join(bad)}: change "
                         "those fields or train.steps_per_call.")


def device_batches(host_batches: grain.IterDataset, steps_per_call: int, sharding,
                   prefetch: int):
    """An iterator over the global device batches of successive train calls, each the host
    batches of `steps_per_call` steps stacked [k, B, ...] and placed with `sharding`.

    With prefetch > 0 a background thread assembles and transfers up to `prefetch` calls ahead,
    so host loading and the host-to-device copy overlap the train steps even while the loop
    waits on the device (logging, checkpoints). Call `.close()` when done."""
    if prefetch < 0:
        raise ValueError(f"data.device_prefetch={prefetch} must be >= 0 (0: no prefetch thread).")
    calls = host_batches.batch(steps_per_call).map(
        functools.partial(parallel.global_batch, sharding=sharding))
    if prefetch:
        calls = grain.experimental.ThreadPrefetchIterDataset(calls, prefetch_buffer_size=prefetch)
    return iter(calls)


def enable_compilation_cache(directory: str | None) -> str | None:
    """Turns on JAX's persistent compilation cache in `directory` (restarts and repeated runs
    then load compiled steps instead of recompiling) and returns the directory in use.

    A directory already set (the JAX_COMPILATION_CACHE_DIR environment variable, or an earlier
    call in this process) is kept; an empty `directory` leaves the cache as it is."""
    current = jax.config.jax_compilation_cache_dir
    if current or not directory:
        return current
    path = os.path.expanduser(directory)
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    return path


def prepare(config, workdir: str):
    """The config that is saved and trained: genmodels.train.stages runs earlier stages of
    multi-stage methods first (ID-GAN's stage-1 beta-VAE in W/stage1)."""
    if config.method not in methods.METHODS:
        return config  # methods.build reports the unknown name.
    return stages.prepare(config, workdir, train_and_evaluate)


def check_drift(config, workdir: str) -> None:
    """Refuses (ConfigDriftError) a run whose config changes fields W's checkpoints depend on,
    before anything is written. Fields that earlier stages fill in or replace
    (stages.prepared_fields) are left to the check after prepare."""
    workdir_lib.check_drift(config, workdir, stages.prepared_fields(config))


def take_lease(workdir: str, primary: bool):
    """Process 0 takes W's lease (workdir.Lease); on multi-host runs every process learns
    whether it got it, so all stop together when it did not. Returns the lease (None on the
    other processes)."""
    lease, error = None, None
    if primary:
        try:
            lease = workdir_lib.Lease(workdir).acquire()
        except workdir_lib.LeaseError as e:
            error = e
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        failed = multihost_utils.broadcast_one_to_all(np.int32(error is not None))
        if failed and error is None and not primary:
            error = workdir_lib.LeaseError(f"process 0 could not take the lease of {workdir}.")
    if error is not None:
        raise error
    return lease


def _evaluate(evaluator, variables, rng, writer: MetricsWriter, step: int):
    results = evaluator(variables, rng)
    if results:
        writer.write_scalars(step, "eval", results)
        log.info("eval at step %d: %s", step, json.dumps(results))


def train_and_evaluate(config, workdir: str, devices=None):
    """Trains `config` in `workdir`, resuming from its latest checkpoint; returns the final state
    (None if the run had already finished). `devices` defaults to all devices of all hosts."""
    parallel.configure_xla_cpu(config.train)  # Before anything starts JAX's backend.
    parallel.maybe_initialize_distributed(config.distributed)
    primary = jax.process_index() == 0
    check_drift(config, workdir)  # Before anything is written.
    lease = take_lease(workdir, primary)
    try:
        return _train(config, workdir, devices, primary, lease)
    finally:
        if lease is not None:
            lease.release()


def _train(config, workdir, devices, primary, lease):
    enable_compilation_cache(config.train.compilation_cache_dir)
    config = prepare(config, workdir)
    check_drift(config, workdir)  # Now with the fields prepare filled in.

    # Everything that can be wrong with the config fails here, before any compilation.
    info = data.get_info(config.data)
    method = methods.build(config, info)
    mesh = parallel.make_mesh(devices)
    parallel.check_batch_size(config.data.batch_size, "data.batch_size", mesh)
    repl, stacked_sharding = parallel.replicated(mesh), parallel.stacked_data_sharding(mesh)
    evaluator = evaluation.Evaluator(method, config, mesh)
    num_steps = config.train.num_steps
    check_steps_per_call(config)
    compute_dtype = config.train.compute_dtype
    check_compute_dtype(compute_dtype)

    start = workdir_lib.latest_step(workdir) or 0
    if start >= num_steps and workdir_lib.is_finished(workdir, num_steps):
        log.info("Run in %s already finished (step %d of %d).", workdir, start, num_steps)
        return None
    if start >= num_steps:
        log.info("Run in %s trained to step %d but has no final evaluation: evaluating.",
                 workdir, start)
    checkpointer = Checkpointer(workdir, keep=config.train.keep_checkpoints)
    k = config.train.steps_per_call
    calls = device_batches(
        data.train_dataset(config.data, batch_size=config.data.batch_size, seed=config.seed,
                           start_step=start),
        k, stacked_sharding, config.data.device_prefetch)
    writer = None
    try:  # From here on, stop the prefetch thread and close the checkpointer on any exit.
        first_call = next(calls)
        batch = jax.tree.map(lambda x: x[0], first_call)  # One step's batch, for init and restore.
        seed_key = jax.random.PRNGKey(config.seed)
        init = jax.jit(functools.partial(init_train_state, method), out_shardings=repl)
        if start:
            state = checkpointer.restore(start, abstract_train_state(method, batch, repl),
                                         config=config)
            log.info("Resumed from step %d in %s.", start, workdir)
        else:
            state = init(seed_key, batch)
        # W's checkpoint restored under this config: only now are W's files written.
        if primary:
            workdir_lib.record_config(config, workdir, start)
        writer = MetricsWriter(workdir, primary, tensorboard=config.train.tensorboard)
        writer.truncate_after(start)

        step_fn = make_train_step(method, compute_dtype)
        train_call = jax.jit(make_multi_step(step_fn, k), in_shardings=(repl, stacked_sharding),
                             out_shardings=(repl, repl), donate_argnums=0)
        sample = jax.jit(method.sample, static_argnums=2, out_shardings=repl)
        sample_rng = jax.random.fold_in(seed_key, workdir_lib.SAMPLE_KEY)
        eval_rng = jax.random.fold_in(seed_key, workdir_lib.EVAL_KEY)
        buffer = _MetricsBuffer(step_fn.metric_owners)
        last_checkpoint = start or None
        window_start, window_steps, input_wait = None, 0, 0.0
        for step in range(start, num_steps, k):
            waiting_since = time.perf_counter()
            call_batches = first_call if step == start else next(calls)
            input_wait += time.perf_counter() - waiting_since
            state, metrics = train_call(state, call_batches)
            done, last = step + k, step + k == num_steps
            buffer.add(step + 1, metrics)
            if window_start is None:  # The first call includes compilation: time from after it.
                jax.block_until_ready(metrics)
                log.info("First train call (with compilation) done.")
                window_start, window_steps, input_wait = time.perf_counter(), 0, 0.0
            else:
                window_steps += k

            if lease is not None:
                lease.check()  # Stop before writing if another process took W over.
            checkpoint_due = _is_due(done, config.train.checkpoint_every, last)
            if checkpoint_due or _is_due(done, config.train.log_every, last):
                buffer.check_finite(last_checkpoint)
            if _is_due(done, config.train.log_every, last):
                means = buffer.pop_means()
                elapsed = time.perf_counter() - window_start
                if window_steps:
                    means["steps_per_sec"] = window_steps / elapsed
                    means["examples_per_sec"] = means["steps_per_sec"] * config.data.batch_size
                    means["input_wait_fraction"] = input_wait / elapsed
                writer.write_scalars(done, "train", means)
                eta = (num_steps - done) / means.get("steps_per_sec", float("inf"))
                log.info("step %d/%d | %s | ETA %.0fs", done, num_steps, " ".join(
                    f"{k}={v:.4g}" for k, v in sorted(means.items())), eta)
                window_start = None  # Restarted below, after the checkpoint, samples and eval.
            if checkpoint_due:
                checkpointer.save(done, state)
                last_checkpoint = done
            variables = None
            if _is_due(done, config.train.sample_every, last):
                variables = inference_variables(state)
                _write_samples(workdir, writer, done, sample(
                    methods.sampling_variables(method, variables), sample_rng,
                    config.train.num_sample_images), info)
            if _is_due(done, config.eval.every, last):
                _evaluate(evaluator, variables or inference_variables(state), eval_rng, writer,
                          done)
            writer.flush()
            if window_start is None:  # steps_per_sec times train steps only.
                window_start, window_steps, input_wait = time.perf_counter(), 0, 0.0
        if start >= num_steps:  # Stopped during its final evaluation: evaluate it now.
            _evaluate(evaluator, inference_variables(state), eval_rng, writer, start)
            writer.flush()
    finally:
        calls.close()  # Stops the prefetch thread.
        checkpointer.wait()
        checkpointer.close()
        if writer is not None:
            writer.close()
    return state
