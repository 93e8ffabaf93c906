"""Orbax checkpoints of the train state: atomic, periodic, keep-N, resumable."""

import os

import jax
import orbax.checkpoint as ocp

from genmodels import data, methods, parallel
from genmodels import workdir as workdir_lib
from genmodels.train.state import abstract_train_state, example_batch


CheckpointError = workdir_lib.WorkdirError


def checkpoint_dir(workdir: str) -> str:
    return str(workdir_lib.checkpoint_dir(workdir))


class Checkpointer:
    """Saves and restores TrainState under W/checkpoints/<step>.

    Orbax writes each checkpoint to a temporary directory and renames it when complete, so a run
    killed mid-save leaves the previous checkpoints intact and the partial one is ignored.
    """

    def __init__(self, workdir: str, keep: int = 3, read_only: bool = False):
        self.directory = checkpoint_dir(workdir)
        if read_only and not os.path.isdir(self.directory):
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

    def save(self, step: int, state) -> None:
        self.manager.save(step, args=ocp.args.StandardSave(state))

    def restore(self, step: int | None, target):
        """Restores `step` (None: the latest) onto `target`'s structure, shapes and shardings."""
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
            path = os.path.join(self.directory, str(step))
            raise CheckpointError(
                f"Checkpoint {path} cannot be restored ({type(e).__name__}: {e}). It is corrupt "
                "or was written by a different config. Delete that step directory to fall back "
                "to an earlier checkpoint, or start a fresh --workdir.") from e

    def wait(self) -> None:
        self.manager.wait_until_finished()

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
                                                                repl))
    finally:
        checkpointer.close()
    return method, info, state, step
