"""Where metrics go: W/metrics.jsonl, the console, and TensorBoard when TensorFlow is installed.

clu's metric writers (0.0.12) import TensorFlow on import, so they are used only for the
TensorBoard event files and only when TensorFlow is importable; the JSON lines file and the
console need nothing beyond the standard library.
"""

import json
import logging
import math

import numpy as np
from etils import epath

from genmodels import workdir as workdir_lib

log = logging.getLogger(__name__)

_warned_no_tensorboard = False


def _tensorboard_writer(logdir: str):
    """clu's SummaryWriter, or None (logged once) when TensorFlow is missing."""
    global _warned_no_tensorboard
    try:
        from clu import metric_writers
    except ImportError:
        if not _warned_no_tensorboard:
            log.warning("TensorBoard event files are off: TensorFlow or clu is not installed. "
                            "Enable them with: pip install 'genmodels[tf]'.")
            _warned_no_tensorboard = True
        return None
    return metric_writers.SummaryWriter(logdir)


def _to_json_number(value) -> float | int | None:
    value = np.asarray(value).item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else value
    return value


class MetricsWriter:
    """Writes {"step", "split", **scalars} lines to DIR/metrics.jsonl (DIR local or remote,
    through etils.epath); only the primary host writes anything."""

    def __init__(self, workdir: str, primary: bool = True, tensorboard: bool = True):
        self.primary = primary
        self.path = epath.Path(workdir) / workdir_lib.METRICS
        self.tensorboard = (_tensorboard_writer(str(workdir)) if (primary and tensorboard)
                            else None)

    def truncate_after(self, step: int) -> None:
        """Drops lines past `step` (a resumed run rewrites them, so the file matches a run that
        was never interrupted) and lines torn by a crash (skipped with a warning)."""
        if not self.primary or not self.path.exists():
            return
        kept = [json.dumps(r) + "\n" for r in workdir_lib.parse_metrics(self.path.read_text(),
                                                                       self.path)
                if r["step"] <= step]
        workdir_lib.write_text_atomic(self.path, "".join(kept))

    def write_scalars(self, step: int, split: str, scalars: dict) -> None:
        if not self.primary:
            return
        record = {"step": int(step), "split": split}
        record.update({k: _to_json_number(v) for k, v in sorted(scalars.items())})
        workdir_lib.append_line(self.path, json.dumps(record))
        if self.tensorboard is not None:
            prefix = "" if split == "train" else f"{split}/"
            self.tensorboard.write_scalars(step, {prefix + k: v for k, v in scalars.items()})

    def write_images(self, step: int, images: dict) -> None:
        """images: {name: uint8 [H, W, C]}; TensorBoard only (PNG files are written by the loop)."""
        if self.primary and self.tensorboard is not None:
            self.tensorboard.write_images(step, {k: v[None] for k, v in images.items()})

    def flush(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.flush()

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
