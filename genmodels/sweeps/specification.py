"""Sweep files: the DSL that builds grids of config overrides (product, zip_, chain, seeds), and
loading a sweep file into validated runs.

A sweep file `configs/sweeps/NAME.py` defines
    base()    -> "configs/gan.py:grid25_plain"  the config file[:preset] every run starts from
    sweep()   -> iterable of override dicts, e.g. {"losses.discriminator": "hinge", "seed": 0};
                 the key "config" (BASE_KEY) gives a run another config file[:preset] than base(),
                 e.g. a baseline of another method: {"config": "configs/gan.py", "seed": 0}
    fixed()   -> dict (optional): overrides shared by every run; not part of the run ids
    metrics() -> names (optional): the metrics to aggregate (default: every numeric one)
Run `ROOT/NAME/<run id>` is exactly `python -m experiments.main --config=BASE --workdir=...
--config.FIELD=VALUE ...` (its command line is checked to rebuild the same config).
"""

import dataclasses
import importlib.util
import itertools
import os
import re
import shlex
import sys
from typing import Iterable, Mapping, Sequence

from etils import epath
from ml_collections import config_dict

from genmodels import data, evaluation, methods
from genmodels.sweeps.overrides import (BASE_KEY, SEED, SweepError, apply_overrides,
                                        check_round_trip, load_base, override_flags, run_ids)


# ---------------------------------------------------------------------------------------------
# Building sweeps: every helper returns a list of override dicts, so the pieces compose.

def _factors(sweeps, axes) -> list[list[dict]]:
    """Each positional sweep (a dict of axes, or an iterable of override dicts) and each keyword
    axis (a list of values) as a list of override dicts."""
    factors = []
    for s in sweeps:
        if isinstance(s, Mapping):
            factors.extend([{k: v} for v in _values(k, vs)] for k, vs in s.items())
        else:
            factors.append([dict(d) for d in s])
    factors.extend([{k: v} for v in _values(k, vs)] for k, vs in axes.items())
    return factors


def _values(name: str, values) -> list:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise SweepError(f"Axis {name!r} needs a list of values, got {values!r}; write "
                         f"{name}=[{values!r}] for a single value.")
    return list(values)


def _merge(dicts: Sequence[dict]) -> dict:
    merged = {}
    for d in dicts:
        for k in d:
            if k in merged:
                raise SweepError(f"Field {k!r} is set by two factors of the same product or zip; "
                                 "set each field in one factor only.")
        merged.update(d)
    return merged


def product(*sweeps, **axes) -> list[dict]:
    """The Cartesian product (last factor varies fastest) of axes and sub-sweeps:
    product({"losses.penalty": ["none", "r1"]}, seeds(3)) -> 6 dicts. Keyword axes are for
    top-level fields (seed=[0, 1]); dotted fields go in a dict."""
    return [_merge(ds) for ds in itertools.product(*_factors(sweeps, axes))]


def zip_(*sweeps, **axes) -> list[dict]:
    """Axes and sub-sweeps varied together: zip_({"a": [1, 2], "b": [3, 4]}) -> [{a:1, b:3},
    {a:2, b:4}]. All factors must have the same length."""
    factors = _factors(sweeps, axes)
    lengths = {len(f) for f in factors}
    if len(lengths) > 1:
        sizes = ", ".join(f"{next(iter(f[0]), '?')}: {len(f)}" for f in factors if f)
        raise SweepError(f"zip_ needs factors of equal length, got {sizes}; use product() to "
                         "cross them instead.")
    return [_merge(ds) for ds in zip(*factors)]


def chain(*sweeps) -> list[dict]:
    """The runs of several sweeps one after the other (e.g. a grid plus a few extra runs)."""
    return [dict(d) for s in sweeps for d in s]


def seeds(n: int, start: int = 0) -> list[dict]:
    """The seed axis: [{"seed": start}, ..., {"seed": start + n - 1}]."""
    return [{SEED: s} for s in range(start, start + n)]


# ---------------------------------------------------------------------------------------------
# Sweep files and runs.

@dataclasses.dataclass
class Run:
    id: str
    overrides: dict  # The swept fields (ids, grouping); `fixed` ones are in `config` and `flags`.
    workdir: str
    config: config_dict.ConfigDict
    flags: list  # --config=... --workdir=... --config.FIELD=VALUE ...

    def argv(self, python: str = sys.executable) -> list[str]:
        return [python, "-m", "experiments.main", *self.flags]

    def command(self, python: str = "python") -> str:
        return shlex.join(self.argv(python))


@dataclasses.dataclass
class Sweep:
    name: str
    base: str
    root: str  # ROOT/<name>; local or remote (gs://...), read and written through etils.epath.
    runs: list
    metrics: list | None  # None: every numeric metric.
    # > 0: each metric M also as M_last<K>, its mean over a run's last K evaluations, so that
    # one lucky evaluation cannot carry a row (the sweep file's optional last_evals()).
    last_evals: int = 0


def _load_module(path: str):
    if not os.path.isfile(path):
        raise SweepError(f"Sweep file {path!r} does not exist (expected configs/sweeps/NAME.py).")
    name = "genmodels_sweep_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for fn in ("base", "sweep"):
        if not callable(getattr(module, fn, None)):
            raise SweepError(f"Sweep file {path} must define {fn}() (see docs/sweeps.md).")
    return module


def build_run(base_spec: str, base_config, overrides: dict, fixed: dict, run_id: str,
              workdir: str) -> Run:
    """A validated run: overrides applied with type checks, and its command line checked to
    rebuild the same config through config_flags. Errors name the run and the field.
    `overrides` may hold BASE_KEY (then `base_spec` / `base_config` must be that config)."""
    all_overrides = {**fixed, **{k: v for k, v in overrides.items() if k != BASE_KEY}}
    try:
        config = apply_overrides(base_config, all_overrides)
    except SweepError as e:
        raise SweepError(f"Run {run_id}: {e}") from None
    run_flags = [f"--config={base_spec}", f"--workdir={workdir}", *override_flags(all_overrides)]
    check_round_trip(run_id, base_spec, config, run_flags[2:])
    return Run(run_id, dict(overrides), workdir, config, run_flags)


def sweep_root(root: str, name: str) -> str:
    """ROOT/<name>: absolute for a local ROOT, unchanged for a remote one (gs://...)."""
    root = str(root)
    return str(epath.Path(root if "://" in root else os.path.abspath(root)) / name)


def load_sweep(path: str, root: str) -> Sweep:
    """Loads a sweep file and validates every run against its base config (nothing is run or
    written)."""
    module = _load_module(path)
    name = os.path.splitext(os.path.basename(path))[0]
    base_spec = module.base()
    fixed = dict(module.fixed()) if hasattr(module, "fixed") else {}
    overrides = [dict(d) for d in module.sweep()]
    if not overrides:
        raise SweepError(f"sweep() of {path} yielded no runs.")
    for i, d in enumerate(overrides):
        both = sorted(d.keys() & fixed.keys())
        if both:
            raise SweepError(f"Run {i} of {path} sweeps {both}, which fixed() also sets; set each "
                             "field in one place.")
    specs = [base_spec] + [d.get(BASE_KEY, base_spec) for d in overrides]
    bases = {spec: load_base(spec) for spec in dict.fromkeys(specs)}
    out = sweep_root(root, name)
    runs = []
    for d, run_id in zip(overrides, run_ids(overrides)):
        spec = d.get(BASE_KEY, base_spec)
        runs.append(build_run(spec, bases[spec], d, fixed, run_id, str(epath.Path(out) / run_id)))
    metrics = list(module.metrics()) if hasattr(module, "metrics") else None
    last_evals = int(module.last_evals()) if hasattr(module, "last_evals") else 0
    if last_evals < 0 or last_evals == 1 or (last_evals and metrics is None):
        raise SweepError(f"last_evals() of {path} is {last_evals}: it must be 0 (off) or >= 2 "
                         "(a mean and a spread over that many evaluations), and needs metrics() "
                         "to name the metrics to average.")
    return Sweep(name, base_spec, out, runs, metrics, last_evals)


def select(runs: Sequence[Run], only: Sequence[str]) -> list[Run]:
    """Runs whose id contains any of the `only` substrings (all runs when `only` is empty)."""
    chosen = [r for r in runs if not only or any(s in r.id for s in only)]
    if not chosen:
        raise SweepError(f"No run id contains {' or '.join(map(repr, only))}; run ids look like "
                         f"{runs[0].id!r} (--print_commands lists them all).")
    return chosen


def check_builds(runs: Sequence[Run]) -> None:
    """Builds each run's method and checks its eval metrics in-process (no compilation), as
    experiments.main does first, so a bad loss name, shape or metric fails before any run starts."""
    for run in runs:
        try:
            method = methods.build(run.config, data.get_info(run.config.data))
            evaluation.check_metrics(tuple(run.config.eval.metrics), method)
        except Exception as e:
            raise SweepError(f"Run {run.id}: {type(e).__name__}: {e}") from e
