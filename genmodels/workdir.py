"""The workdir contract (DESIGN.md §4): its layout, config, metrics, eval files and checkpoint
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

import fnmatch
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Mapping

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


def final_record(workdir) -> dict | None:
    """The last "eval" record of W/metrics.jsonl, else the last "train" one; None if neither."""
    records = read_metrics(workdir)
    for split in ("eval", "train"):
        matching = [r for r in records if r.get("split") == split]
        if matching:
            return matching[-1]
    return None


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
    """Whether W has a checkpoint at train.num_steps (default: that of W/config.json)."""
    if not has_config(workdir):
        return False
    if num_steps is None:
        num_steps = read_config_dict(workdir)["train"]["num_steps"]
    return any(s >= num_steps for s in checkpoint_steps(workdir))


# ---------------------------------------------------------------------------------------------
# Config drift: what a rerun into an existing W may change, and the record of what it changed.

# Fields a resumed run may change (fnmatch patterns): they decide how long, how often and where
# the run logs, saves and evaluates, and the learning rates; none changes the shapes or meaning
# of what the checkpoints hold. Every other field (model.*, method, seed, data.name,
# data.image_size, data.batch_size, losses.*, schedule.*, the optimizers' other fields,
# stage1.*, a method's own sections, ...) is refused.
SAFE_FIELDS = (
    "train.num_steps", "train.log_every", "train.checkpoint_every", "train.keep_checkpoints",
    "train.sample_every", "train.num_sample_images", "train.compilation_cache_dir",
    "train.tensorboard", "train.steps_per_call", "train.compute_dtype",
    "data.device_prefetch", "data.tfds_data_dir", "eval.*", "distributed.*",
    "optim.learning_rate", "optim.*.learning_rate")


class ConfigDriftError(WorkdirError, ValueError):
    """A rerun into W changes fields that W's checkpoints depend on."""


def is_safe_field(field: str) -> bool:
    return any(fnmatch.fnmatchcase(field, pattern) for pattern in SAFE_FIELDS)


def _plain(config) -> dict:
    """A config (ConfigDict or dict) as the plain dict its JSON file holds."""
    text = config.to_json() if hasattr(config, "to_json") else json.dumps(config)
    return json.loads(text)


def config_drift(config, workdir, ignore: tuple = ()) -> dict[str, tuple]:
    """{field: (value in W/config.json, value in `config`)} of every differing field, except
    those under a prefix in `ignore`. The saved config is read merged over the defaults, like
    load_config."""
    saved = _plain(config_lib.merge_over_defaults(read_config_dict(workdir)))
    new = _plain(config)
    flat_saved, flat_new = config_lib.flatten(saved), config_lib.flatten(new)
    return {f: (flat_saved.get(f), flat_new.get(f))
            for f in config_lib.config_differences(saved, new)
            if not any(f == p or f.startswith(p + ".") for p in ignore)}


def _show(drift: Mapping) -> str:
    return "; ".join(f"{f}: {old!r} in config.json, {new!r} now" for f, (old, new) in drift.items())


def check_drift(config, workdir, ignore: tuple = ()) -> dict[str, tuple]:
    """Before a train run writes anything into W: raises ConfigDriftError if W has checkpoints
    and `config` changes a field they depend on; returns the (safe) differing fields."""
    if not has_config(workdir) or latest_step(workdir) is None:
        return {}
    drift = config_drift(config, workdir, ignore)
    refused = {f: v for f, v in drift.items() if not is_safe_field(f)}
    if refused:
        raise ConfigDriftError(
            f"{workdir} holds checkpoints (latest step {latest_step(workdir)}) of another config."
            f" Differing fields: {_show(refused)}. These change the parameters, data or method, "
            "so the run cannot resume. Train the new config in a new --workdir, or delete "
            f"{workdir} to start over (or keep those fields as they are to resume it).")
    return drift


def read_config_history(workdir) -> list[dict]:
    p = path(workdir) / HISTORY
    return parse_metrics(p.read_text(), p) if p.exists() else []


def record_config(config, workdir, step: int) -> None:
    """Saves `config` as W/config.json for a run starting at `step`. On a resume (step > 0)
    the fields it changes are appended to W/config_history.jsonl as {"step": step, "changed":
    {field: [old, new]}}: those values hold for the steps after `step`. A fresh start (step 0)
    drops an old history."""
    history = path(workdir) / HISTORY
    if step and has_config(workdir):
        drift = config_drift(config, workdir)
        if drift:
            append_line(history, json.dumps({"step": int(step), "time": time.time(), "changed": {
                f: list(v) for f, v in drift.items()}}, sort_keys=True))
            log.info("Config changes from step %d recorded in %s: %s", step, history,
                         _show(drift))
    elif not step and history.exists():
        history.unlink()
    save_config(config, workdir)


# ---------------------------------------------------------------------------------------------
# The training lease: one writer per workdir.

LEASE_TIMEOUT_S = 300.0  # A lease whose heartbeat is older than this is stale.
HEARTBEAT_S = 30.0  # How often the holder refreshes its heartbeat.


class LeaseError(WorkdirError):
    """Another live process holds W's lease, or this process lost it."""


def read_lease(workdir) -> dict | None:
    """W/lease.json, or None if there is none; {} if it is unreadable."""
    p = path(workdir) / LEASE
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, OSError):
        return {} if p.exists() else None


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_staleness(lease: Mapping, now: float | None = None) -> str | None:
    """Why `lease` is stale (its pid is dead on this host, or its heartbeat is older than
    LEASE_TIMEOUT_S, or it is unreadable), or None if its holder may be alive."""
    try:
        host, pid, heartbeat = lease["host"], int(lease["pid"]), float(lease["heartbeat"])
    except (KeyError, TypeError, ValueError):
        return "the lease file is unreadable"
    if host == socket.gethostname() and not _pid_running(pid):
        return f"pid {pid} is not running on this host"
    age = (time.time() if now is None else now) - heartbeat
    if age > LEASE_TIMEOUT_S:
        return f"its last heartbeat was {age:.0f} s ago (timeout {LEASE_TIMEOUT_S:.0f} s)"
    return None


def _describe(lease: Mapping) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lease.get("started", 0)))
    return (f"pid {lease.get('pid')} on host {lease.get('host')} (started {started}, last "
            f"heartbeat {time.time() - lease.get('heartbeat', 0):.0f} s ago)")


class Lease:
    """W/lease.json: {"host", "pid", "started", "heartbeat", "token"}, held by the one process
    that trains W. A daemon thread refreshes the heartbeat every HEARTBEAT_S seconds.

    Locally the file is created with a hard link (atomic, fails if it exists); on object stores
    it is written and read back (best effort: two writers racing within one request both see
    their own token only if the store reorders their writes)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.path = path(workdir) / LEASE
        self.token = uuid.uuid4().hex
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread = None
        self.record = None

    def _text(self) -> str:
        now = time.time()
        self.record = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                       "started": (self.record or {}).get("started", now), "heartbeat": now}
        return json.dumps(self.record, sort_keys=True)

    def _refuse(self, holder: Mapping):
        raise LeaseError(
            f"{self.workdir} is being trained by {_describe(holder)}: one training run writes "
            "a workdir at a time. Wait for it to finish or stop it. A lease left by a killed "
            f"job on another host expires {LEASE_TIMEOUT_S:.0f} s after its last heartbeat; "
            f"delete {self.path} if you are sure that job is gone.")

    def _create(self) -> bool:
        """Writes the lease if there is none; False if another process has one."""
        tmp = self.path.parent / f"{LEASE}.{self.token}.tmp"
        tmp.write_text(self._text())
        if is_remote(self.path):
            if self.path.exists():
                tmp.unlink()
                return False
            tmp.replace(self.path)
            return (read_lease(self.workdir) or {}).get("token") == self.token
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def acquire(self) -> "Lease":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            holder = read_lease(self.workdir)
            if holder is not None:
                stale = lease_staleness(holder)
                if stale is None:
                    self._refuse(holder)
                log.warning("Taking over the stale lease of %s: %s.", self.workdir, stale)
                self.path.unlink(missing_ok=True)
            if self._create():
                break
        else:
            self._refuse(read_lease(self.workdir) or {})
        self._thread = threading.Thread(target=self._beat, daemon=True, name="workdir-lease")
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            holder = read_lease(self.workdir) or {}
            if holder.get("token") != self.token:
                self.lost = (f"Lost the lease of {self.workdir}: it is now held by "
                             f"{_describe(holder)}. This run stopped so that only one process "
                             "writes the workdir.")
                return
            write_text_atomic(self.path, self._text(), f".{self.token}.tmp")

    def check(self) -> None:
        """Raises LeaseError if another process took the lease over."""
        if self.lost:
            raise LeaseError(self.lost)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if (read_lease(self.workdir) or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
