"""Config drift: what a rerun into an existing workdir may change, and the record of it."""

import fnmatch
import json
import logging
import time
from collections.abc import Mapping

from genmodels import config as config_lib
from genmodels.workdir.layout import (HISTORY, WorkdirError, append_line, has_config, latest_step,
                                      parse_metrics, path, read_config_dict,
                                      save_config)

log = logging.getLogger(__name__)

# Fields a resumed run may change (fnmatch patterns): they decide how long, how often and where
# the run logs, saves and evaluates, and the learning rates; none changes the shapes or meaning
# of what the checkpoints hold. Every other field (model.*, method, seed, data.name,
# data.image_size, data.batch_size, losses.*, schedule.*, the optimizers' other fields,
# stage1.*, a method's own sections, ...) is refused.
SAFE_FIELDS = (
    "train.num_steps", "train.log_every", "train.checkpoint_every", "train.keep_checkpoints",
    "train.sample_every", "train.num_sample_images", "train.compilation_cache_dir",
    "train.tensorboard", "train.steps_per_call", "train.compute_dtype", "train.cpu_ynn_fusions",
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
