"""Orbax checkpoints of the train state: atomic, periodic, keep-N, resumable, and restore errors
that say whether the checkpoint is damaged or belongs to another config."""

import errno

import jax
import orbax.checkpoint as ocp

from genmodels import data, methods, parallel
from genmodels import workdir as workdir_lib
from genmodels.train.state import abstract_train_state, example_batch

CheckpointError = workdir_lib.WorkdirError


class CheckpointMismatchError(CheckpointError, ValueError):
    """A readable checkpoint whose parameter shapes or structure differ from the config's."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint whose files cannot be read (truncated or damaged)."""


def _short(error: Exception, limit: int = 300) -> str:
    text = f"{type(error).__name__}: {error}".strip().splitlines()[0]
    return text if len(text) <= limit else text[:limit] + " ..."


def _leaves(tree) -> dict:
    """{'params/encoder/Dense_0/kernel': leaf}: dict keys, attribute names and indices alike
    (a restored metadata tree is nested dicts where the state is a dataclass)."""
    def name(entry):
        for attr in ("key", "name", "idx"):
            if hasattr(entry, attr):
                return str(getattr(entry, attr))
        return str(entry)
    return {"/".join(name(e) for e in path): leaf
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def shape_mismatches(stored, abstract, limit: int = 2) -> list[str]:
    """'path: stored (16, 256), config (7, 256)' for leaves whose shapes differ, and the leaves
    present on one side only; [] if the trees agree."""
    flat_stored, flat_new = _leaves(stored), _leaves(abstract)
    out = []
    for key in sorted(flat_stored.keys() | flat_new.keys(),
                      key=lambda k: (not k.startswith("params"), k)):
        a, b = flat_stored.get(key), flat_new.get(key)
        if a is None or b is None:
            out.append(f"{key}: only in the {'config' if a is None else 'checkpoint'}")
        elif tuple(getattr(a, "shape", ())) != tuple(getattr(b, "shape", ())):
            out.append(f"{key}: stored {tuple(a.shape)}, config {tuple(b.shape)}")
    return out[:limit] + ([f"... {len(out) - limit} more"] if len(out) > limit else [])


class Checkpointer:
    """Saves and restores TrainState under W/checkpoints/<step>.

    Orbax writes each checkpoint to a temporary directory and renames it when complete (on
    object stores: writes commit_success.txt last), so a run killed mid-save leaves the previous
    checkpoints intact and the partial one is ignored.
    """

    def __init__(self, workdir: str, keep: int = 3, read_only: bool = False):
        self.workdir = workdir
        directory = workdir_lib.checkpoint_dir(workdir)
        self.directory = str(directory)
        if read_only and not directory.is_dir():
            raise CheckpointError(f"No checkpoint directory {self.directory}: train a model in "
                                  f"this workdir first (python -m experiments.main --mode=train "
                                  f"--workdir={workdir} --config=...).")
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only,
                                               read_only=read_only)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def _disk_error(self, step: int, error: OSError) -> CheckpointError:
        previous = [s for s in self.all_steps() if s < step]
        reason = ("no space left on device" if error.errno == errno.ENOSPC
                  else error.strerror or str(error))
        return CheckpointError(
            f"Writing checkpoint step {step} to {self.directory} failed: {reason}. Training "
            f"stopped; " + (f"the previous checkpoint (step {previous[-1]}) is intact. "
                            if previous else "there is no earlier checkpoint. ")
            + "Free space (or fix the storage) and rerun the same command to resume.")

    def save(self, step: int, state) -> None:
        try:
            self.manager.save(step, args=ocp.args.StandardSave(state))
        except OSError as e:
            raise self._disk_error(step, e) from e

    def _stored_shapes(self, step: int):
        """The tree of array metadata (shapes) saved with `step`; raises if unreadable."""
        with ocp.StandardCheckpointer() as reader:
            metadata = reader.metadata(f"{self.directory}/{step}/default")
        return getattr(metadata, "item_metadata", metadata)

    def restore(self, step: int | None, target, config=None):
        """Restores `step` (None: the latest) onto `target`'s structure, shapes and shardings.
        `config` (the one that built `target`) names the fields that differ from W/config.json
        when the shapes do not match."""
        if step is None:
            step = self.latest_step()
        if step is None:
            raise CheckpointError(f"No checkpoint found in {self.directory}.")
        if step not in self.all_steps():
            raise CheckpointError(f"No checkpoint for step {step} in {self.directory}; "
                                  f"available steps: {self.all_steps()}.")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except Exception as e:  # Orbax raises many types for unreadable or mismatched files.
            raise self._explain(step, abstract, e, config) from e

    def _explain(self, step, abstract, error, config) -> CheckpointError:
        """A mismatch (the checkpoint's metadata reads, its shapes differ) or a corrupt file."""
        path = f"{self.directory}/{step}"
        try:
            stored = self._stored_shapes(step)
            # Metadata without arrays (its files damaged) says nothing about the config.
            mismatches = shape_mismatches(stored, abstract) if _leaves(stored) else []
        except Exception:  # noqa: BLE001 (unreadable metadata: the checkpoint is damaged)
            mismatches = []
        if mismatches:
            drift = {}
            if config is not None and workdir_lib.has_config(self.workdir):
                drift = workdir_lib.config_drift(config, self.workdir)
            cause = ("the config differs from its config.json in " + "; ".join(
                f"{f} ({old!r} there, {new!r} here)" for f, (old, new) in drift.items())
                if drift else f"it does not match {workdir_lib.config_path(self.workdir)}")
            return CheckpointMismatchError(
                f"Checkpoint {path} was written by another config: {cause}. Shapes: "
                f"{'; '.join(mismatches)}. The checkpoint is fine; load it with the config of "
                f"its workdir (drop the overrides), or train the new config in a new --workdir.")
        return CorruptCheckpointError(
            f"Checkpoint {path} cannot be restored: it is corrupt or truncated ({_short(error)})."
            f" {self._fallback(step, abstract)}")

    def _fallback(self, step: int, abstract) -> str:
        """Advice naming the latest earlier step that restores, if any."""
        for earlier in sorted((s for s in self.all_steps() if s < step), reverse=True):
            try:
                self.manager.restore(earlier, args=ocp.args.StandardRestore(abstract))
            except Exception:  # noqa: BLE001, S112 (try the next earlier one)
                continue
            return (f"Step {earlier} restores: delete {self.directory}/{step} to fall back to "
                    f"it (or load --step={earlier}).")
        return "No earlier checkpoint restores either: start a fresh --workdir."

    def wait(self) -> None:
        try:
            self.manager.wait_until_finished()
        except OSError as e:
            raise self._disk_error(self.latest_step() or 0, e) from e

    def close(self) -> None:
        self.manager.close()


def restore_run(workdir: str, config, step: int | None = None, mesh=None):
    """(method, info, state, step): the run in `workdir` built from `config` and restored at
    `step` (default: the latest checkpoint), replicated over `mesh` (default: all devices)."""
    info = data.get_info(config.data)
    method = methods.build(config, info)
    repl = parallel.replicated(mesh or parallel.make_mesh())
    checkpointer = Checkpointer(workdir, read_only=True)
    try:
        step = checkpointer.latest_step() if step is None else step
        state = checkpointer.restore(step, abstract_train_state(method, example_batch(info, 2),
                                                                repl), config=config)
    finally:
        checkpointer.close()
    return method, info, state, step
