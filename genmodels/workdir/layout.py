"""The workdir layout and files (DESIGN.md §4): paths, config, metrics, eval files and checkpoint
listing, in one place. Every path goes through etils.epath, so W may be local or remote.

```
W/config.json              resolved config (describes the checkpoints in W)
W/metrics.jsonl            one JSON record per line: {"step", "split", <metric>: value, ...}
W/eval/step_<8 digits>.json
W/samples/                 training grids, --mode=sample output
W/checkpoints/<step>/      orbax
W/config_history.jsonl     safe config changes made on resume (`record_config`)
W/lease.json               the training process that holds W (`Lease`)
```
Guarantees (docs/workdir.md): a rerun whose config changes parameters, data or method is refused
before anything is written (`check_drift`); one training process writes W at a time (`Lease`).
"""

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence

import ml_collections
from etils import epath

from genmodels import config as config_lib

log = logging.getLogger(__name__)

CONFIG = "config.json"
METRICS = "metrics.jsonl"
EVAL_DIR = "eval"
SAMPLES_DIR = "samples"
CHECKPOINTS_DIR = "checkpoints"
HISTORY = "config_history.jsonl"
LEASE = "lease.json"

# fold_in constants of a run's seed key: the fixed sample-grid noise (comparable across steps)
# and the evaluation randomness (shared by in-training and offline evaluation).
SAMPLE_KEY = 7_777
EVAL_KEY = 8_888


class WorkdirError(RuntimeError):
    """W is not a workdir, or it (or a checkpoint in it) is in a state the command cannot use."""


def path(workdir) -> epath.Path:
    return epath.Path(workdir)


def config_path(workdir) -> epath.Path:
    return path(workdir) / CONFIG


def metrics_path(workdir) -> epath.Path:
    return path(workdir) / METRICS


def samples_dir(workdir) -> epath.Path:
    return path(workdir) / SAMPLES_DIR


def samples_file(workdir) -> epath.Path:
    """W/samples/samples.npz, the points `experiments.main --mode=sample` writes (array x)."""
    return samples_dir(workdir) / "samples.npz"


def absolute(workdir) -> str:
    """`workdir` as an absolute local path, or unchanged if remote (gs://...)."""
    w = os.fspath(workdir)
    return w if is_remote(w) else os.path.abspath(w)


def checkpoint_dir(workdir) -> epath.Path:
    return epath.Path(absolute(workdir)) / CHECKPOINTS_DIR


def is_remote(p) -> bool:
    return "://" in os.fspath(p)


def write_text_atomic(target: epath.Path, text: str, suffix: str = ".tmp") -> None:
    """Writes via a temporary file and a rename, so readers never see half a file."""
    target = epath.Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / (target.name + suffix)
    tmp.write_text(text)
    tmp.replace(target)


def append_line(target, line: str) -> None:
    """Appends one line. Object stores cannot append, so there the file is rewritten."""
    target = epath.Path(target)
    if is_remote(target):
        old = target.read_text() if target.exists() else ""
        target.write_text(old + line + "\n")
        return
    with target.open("a") as f:
        f.write(line + "\n")


# ---------------------------------------------------------------------------------------------
# Config.

def save_config(config, workdir) -> None:
    write_text_atomic(config_path(workdir), config.to_json(indent=2, sort_keys=True))


def has_config(workdir) -> bool:
    return config_path(workdir).exists()


def read_config_dict(workdir) -> dict:
    """W/config.json as a plain dict."""
    p = config_path(workdir)
    if not p.exists():
        raise WorkdirError(f"{p} not found: {workdir} is not a genmodels workdir (train one with "
                           "python -m experiments.main --config=... --workdir=...).")
    return json.loads(p.read_text())


def load_config(workdir) -> ml_collections.ConfigDict:
    """W/config.json merged over the fields every config has (genmodels.config.base_config), so
    a run saved before a field existed reads that field's default."""
    saved = read_config_dict(workdir)
    merged = config_lib.merge_over_defaults(saved)
    return ml_collections.ConfigDict(merged)


# ---------------------------------------------------------------------------------------------
# metrics.jsonl.

def parse_metrics(text: str, where) -> list[dict]:
    """The JSON records of a metrics.jsonl text. A line that does not parse (a write torn by a
    crash) is skipped with a warning."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s line %d is not valid JSON (a torn write?); skipped.", where, number)
    return records


def read_metrics(workdir, split: str | None = None) -> list[dict]:
    """The records of W/metrics.jsonl (optionally of one split); torn lines are skipped."""
    p = metrics_path(workdir)
    if not p.exists():
        return []
    records = parse_metrics(p.read_text(), p)
    return [r for r in records if split is None or r.get("split") == split]


def last_record(records: Sequence[dict]) -> dict | None:
    """The last "eval" record, else the last "train" one; None if neither."""
    for split in ("eval", "train"):
        matching = [r for r in records if r.get("split") == split]
        if matching:
            return matching[-1]
    return None


def final_record(workdir) -> dict | None:
    """last_record of W/metrics.jsonl."""
    return last_record(read_metrics(workdir))


def train_seconds(records: Sequence[dict]) -> float | None:
    """Wall time of the train steps: over the train records, the steps since the previous record
    divided by this record's steps_per_sec. The trainer times train calls only (no compilation,
    checkpoints, samples or evaluations). None without a timed train record."""
    total, previous, timed = 0.0, 0, False
    for r in records:
        if r.get("split") != "train":
            continue
        if r.get("steps_per_sec"):
            total += (r["step"] - previous) / r["steps_per_sec"]
            timed = True
        previous = r["step"]
    return total if timed else None


# ---------------------------------------------------------------------------------------------
# Eval files.

def eval_path(workdir, step: int) -> epath.Path:
    return path(workdir) / EVAL_DIR / f"step_{int(step):08d}.json"


def eval_files(workdir) -> dict[int, epath.Path]:
    """step -> path of W/eval/step_<step>.json."""
    directory = path(workdir) / EVAL_DIR
    if not directory.exists():
        return {}
    files = {}
    for p in directory.glob("step_*.json"):
        match = re.fullmatch(r"step_(\d+)\.json", p.name)
        if match:
            files[int(match.group(1))] = p
    return files


def latest_eval(workdir) -> dict | None:
    files = eval_files(workdir)
    return json.loads(files[max(files)].read_text()) if files else None


def write_eval(workdir, step: int, results: Mapping) -> dict:
    """Merges `results` into W/eval/step_<step>.json (new values win); returns the merged record."""
    p = eval_path(workdir, step)
    merged = {**(json.loads(p.read_text()) if p.exists() else {}), **results}
    write_text_atomic(p, json.dumps(merged, indent=2, sort_keys=True))
    return merged


# ---------------------------------------------------------------------------------------------
# Checkpoints.

def checkpoint_steps(workdir) -> list[int]:
    """Completed checkpoint steps in W/checkpoints. Locally orbax renames a finished save to
    <step>; on object stores (no rename) it writes <step>/commit_success.txt last."""
    directory = checkpoint_dir(workdir)
    if not directory.exists():
        return []
    remote = is_remote(directory)
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit() and (
        not remote or (p / "commit_success.txt").exists()))


def latest_step(workdir) -> int | None:
    steps = checkpoint_steps(workdir)
    return steps[-1] if steps else None


def is_finished(workdir, num_steps: int | None = None) -> bool:
    """Whether W has a checkpoint at train.num_steps (default: that of W/config.json) and, when
    W/config.json names eval.metrics, the final evaluation's record in W/metrics.jsonl: a run
    stopped during its final evaluation is not finished, and resuming it evaluates."""
    if not has_config(workdir):
        return False
    saved = read_config_dict(workdir)
    if num_steps is None:
        num_steps = saved["train"]["num_steps"]
    if not any(s >= num_steps for s in checkpoint_steps(workdir)):
        return False
    evaluates = bool(saved.get("eval", {}).get("metrics"))
    return not evaluates or has_final_record(read_metrics(workdir), num_steps, evaluates)


def has_final_record(records: Sequence[dict], num_steps: int, evaluates: bool) -> bool:
    """Whether `records` reach the end of a run of num_steps steps: an eval record at that step
    when the run evaluates (it has eval.metrics), else any record at that step."""
    return any(r["step"] >= num_steps for r in records
               if not evaluates or r.get("split") == "eval")
