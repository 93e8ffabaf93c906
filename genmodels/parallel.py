"""Device mesh, shardings and multi-host start-up.

The batch is sharded along the `data` axis of a 1-D mesh over all devices of all hosts and the
train state is replicated; XLA inserts the gradient all-reduce from these annotations alone.
"""

import logging
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

log = logging.getLogger(__name__)

DATA_AXIS = "data"


def maybe_initialize_distributed(cfg) -> None:
    """Calls jax.distributed.initialize() when `cfg.enabled` or JAX_COORDINATOR_ADDRESS is set.

    Must run before any other JAX call. Unset fields (coordinator_address, num_processes,
    process_id) are left to JAX's cluster auto-detection (TPU pods, SLURM, Open MPI, ...).
    """
    if not (cfg.enabled or os.environ.get("JAX_COORDINATOR_ADDRESS")):
        return
    if jax.distributed.is_initialized():
        return
    kwargs = {k: cfg[k] for k in ("coordinator_address", "num_processes", "process_id")
              if cfg[k] is not None}
    # Cross-process collectives on CPU (tests, CPU clusters) need an implementation; GPUs and
    # TPUs ignore this setting.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(**kwargs)
    log.info("jax.distributed: process %d of %d, %d local / %d global devices.",
                 jax.process_index(), jax.process_count(), jax.local_device_count(),
                 jax.device_count())


# XLA:CPU's switch for YNNPACK fusions (an empty list turns them all off), known to the XLA of
# jaxlib 0.10 (measured there: docs/benchmarks.md); an XLA that does not know a flag in XLA_FLAGS
# aborts at start-up, so older jaxlibs are left alone.
YNN_OFF_FLAG = "--xla_cpu_experimental_ynn_fusion_type="
YNN_FLAG_MIN_JAXLIB = (0, 10)


def configure_xla_cpu(train_cfg) -> bool:
    """Adds YNN_OFF_FLAG to XLA_FLAGS when `train_cfg.cpu_ynn_fusions` is False; returns
    whether the backend will run with it. XLA reads XLA_FLAGS once, when JAX starts its
    backend, so this must run before any JAX computation; later (e.g. a second run in the same
    process) it logs a warning and changes nothing. Speed only: the results are the same
    up to float rounding."""
    if train_cfg.get("cpu_ynn_fusions", True):
        return False
    flags = os.environ.get("XLA_FLAGS", "")
    if YNN_OFF_FLAG.rstrip("=") in flags:
        return YNN_OFF_FLAG in flags.split()
    from jax._src import xla_bridge  # backends_are_initialized has no public name.
    if tuple(jax.__version_info__[:2]) < YNN_FLAG_MIN_JAXLIB:
        log.warning("train.cpu_ynn_fusions=False is ignored: jax %s may not know %s (needs "
                    ">= %d.%d).", jax.__version__, YNN_OFF_FLAG, *YNN_FLAG_MIN_JAXLIB)
        return False
    if xla_bridge.backends_are_initialized():
        log.warning("train.cpu_ynn_fusions=False is ignored: JAX's backend started before the "
                    "run (XLA reads XLA_FLAGS once). Set XLA_FLAGS=%s before starting Python.",
                    YNN_OFF_FLAG)
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {YNN_OFF_FLAG}".strip()
    log.info("XLA:CPU YNNPACK fusions off (XLA_FLAGS=%s).", os.environ["XLA_FLAGS"])
    return True


def make_mesh(devices=None) -> Mesh:
    """A 1-D `data` mesh over `devices` (default: every device of every host)."""
    return Mesh(np.asarray(jax.devices() if devices is None else devices), (DATA_AXIS,))


def data_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def stacked_data_sharding(mesh: Mesh) -> NamedSharding:
    """Batches of several train steps stacked on a leading axis [k, B, ...]: B is sharded."""
    return NamedSharding(mesh, PartitionSpec(None, DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def check_batch_size(batch_size: int, field: str, mesh: Mesh) -> None:
    """Global batch sizes must split evenly over hosts and devices; says which field to change."""
    devices, hosts = mesh.devices.size, jax.process_count()
    if batch_size % devices or batch_size % hosts:
        raise ValueError(f"{field}={batch_size} must be divisible by the number of devices "
                         f"({devices}) and of hosts ({hosts}); set --config.{field} to a multiple "
                         f"of {devices}.")


def global_batch(local_batch: dict, sharding: NamedSharding) -> dict:
    """Assembles the global batch from this host's rows (host p holds rows [p*b, (p+1)*b))."""
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
            for k, v in local_batch.items()}


def to_host(tree):
    """numpy copies of a pytree of replicated arrays, read from this host's first replica.

    Unlike jax.device_get this also works when the arrays span other hosts' devices."""
    def local(x):
        return np.asarray(x.addressable_data(0)) if isinstance(x, jax.Array) else x

    return jax.tree.map(local, tree)
