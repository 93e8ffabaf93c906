"""Sweeps: grids of config overrides, one `experiments.main` subprocess per run, and the results
aggregated over seeds into tables and plots (docs/sweeps.md).

A sweep file `configs/sweeps/NAME.py` defines
    base()    -> "configs/gan.py:grid25"   the config file[:preset] every run starts from
    sweep()   -> iterable of override dicts, e.g. {"losses.discriminator": "hinge", "seed": 0};
                 the key "config" (BASE_KEY) gives a run another config file[:preset] than base(),
                 e.g. a baseline of another method: {"config": "configs/gan.py", "seed": 0}
    fixed()   -> dict (optional): overrides shared by every run; not part of the run ids
    metrics() -> names (optional): the metrics to aggregate (default: every numeric one)
Run `ROOT/NAME/<run id>` is exactly `python -m experiments.main --config=BASE --workdir=...
--config.FIELD=VALUE ...` (its command line is checked to rebuild the same config).
"""

import ast
import copy
import csv
import dataclasses
import difflib
import hashlib
import importlib.util
import itertools
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
import warnings
from typing import Callable, Iterable, Mapping, Sequence

from absl import flags
from ml_collections import config_dict, config_flags

from genmodels import workdir as workdir_lib
from genmodels.config import config_differences
from genmodels.workdir import final_record, is_finished

SEED = "seed"
BASE_KEY = "config"  # An override key naming the run's config file[:preset] instead of base().
_MAX_ID_LENGTH = 120


class SweepError(ValueError):
    """A sweep file, an override or a run that cannot be used; the message says how to fix it."""


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
# Configs: loading, overriding with type checks, and the command line that reproduces them.

def parse_config(spec: str, flag_args: Sequence[str] = ()) -> config_dict.ConfigDict:
    """The config `experiments.main --config=SPEC *flag_args` would build (same parser: absl +
    ml_collections.config_flags, locked)."""
    argv = ["main", f"--config={spec}", *flag_args]
    flag_values = flags.FlagValues()
    holder = config_flags.DEFINE_config_file("config", None, flag_values=flag_values,
                                             lock_config=True, sys_argv=argv)
    with warnings.catch_warnings():  # config_flags loads files with the deprecated load_module.
        warnings.simplefilter("ignore", DeprecationWarning)
        flag_values(argv)
    config = holder.value
    _ = config.keys()  # A file that failed to load raises here, not on first use.
    return config


def load_base(spec: str) -> config_dict.ConfigDict:
    """The base config of a sweep, with errors that name the spec."""
    path = spec.split(":", 1)[0]
    if not os.path.isfile(path):
        raise SweepError(f"Base config {path!r} (from base() = {spec!r}) does not exist; paths "
                         f"are relative to the directory you run from ({os.getcwd()}), normally "
                         "the repository root.")
    try:
        return parse_config(spec)
    except Exception as e:  # absl wraps config errors in its own types.
        raise SweepError(f"Cannot load base config {spec!r}: {e}") from e


def _field_type(parent: config_dict.ConfigDict, leaf: str):
    try:
        return parent.get_type(leaf)
    except (AttributeError, KeyError):
        return type(parent[leaf])


def _resolve(config: config_dict.ConfigDict, field: str):
    """(parent ConfigDict, leaf name) of a dotted field, or a SweepError naming the field."""
    node, parts = config, field.split(".")
    for i, part in enumerate(parts):
        where = ".".join(parts[:i]) or "the config"
        if not isinstance(node, config_dict.ConfigDict):
            kind = type(node).__name__
            raise SweepError(f"Unknown config field {field!r}: {where} is "
                             f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}, not a section.")
        if part not in node:
            close = difflib.get_close_matches(part, list(node.keys()), n=1)
            hint = f"did you mean {'.'.join(parts[:i] + close[:1])!r}? " if close else ""
            raise SweepError(f"Unknown config field {field!r}: {hint}The fields of {where} are: "
                             f"{', '.join(sorted(node.keys()))}.")
        if i < len(parts) - 1:
            node = node[part]
    return node, parts[-1]


def _coerce(value, expected: type):
    """Tuple fields accept lists and Python-literal strings ("(8, 8)"); bools are not numbers."""
    if expected is tuple and isinstance(value, str):
        try:
            parsed = ast.literal_eval(value)
        except (SyntaxError, ValueError):
            parsed = None
        if isinstance(parsed, (tuple, list)):
            return tuple(parsed)
    if expected is tuple and isinstance(value, list):
        return tuple(value)
    if expected in (int, float) and isinstance(value, bool):
        raise TypeError(f"{value!r} is a bool, the field is a {expected.__name__}")
    return value


def apply_overrides(config: config_dict.ConfigDict, overrides: Mapping) -> config_dict.ConfigDict:
    """A copy of `config` with dotted-field overrides, type-checked as ConfigDict does (int ->
    float is allowed); unknown fields and wrong types raise a SweepError naming the field."""
    config = copy.deepcopy(config)
    for field, value in overrides.items():
        parent, leaf = _resolve(config, field)
        expected = _field_type(parent, leaf)
        if isinstance(parent[leaf], config_dict.ConfigDict):
            raise SweepError(f"Config field {field!r} is a section; override its fields instead "
                             f"({field}.{next(iter(parent[leaf].keys()), 'NAME')}=...).")
        try:
            parent[leaf] = _coerce(value, expected)
        except TypeError as e:
            raise SweepError(f"Wrong type for config field {field!r}: {value!r} is a "
                             f"{type(value).__name__}; the field takes {expected.__name__} (base "
                             f"value {parent[leaf]!r}). Give a value of that type.") from e
    return config


def format_value(value) -> str:
    """VALUE of --config.FIELD=VALUE, as config_flags parses it back."""
    if isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        return repr(tuple(value))
    return repr(value)


def override_flags(overrides: Mapping) -> list[str]:
    return [f"--config.{k}={format_value(v)}" for k, v in overrides.items()]


# ---------------------------------------------------------------------------------------------
# Run ids: readable, unique, stable for the same sweep file.

def _slug(value) -> str:
    text = ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-.") or "none"


def _short_spec(spec: str) -> str:
    """configs/gan.py:digits -> gan-digits (for run ids)."""
    path, _, preset = str(spec).partition(":")
    name = os.path.splitext(os.path.basename(path))[0]
    return f"{name}-{preset}" if preset else name


def _labels(fields: Iterable[str]) -> dict[str, str]:
    """Each field's shortest dotted suffix that no other field of the sweep ends with."""
    fields = list(dict.fromkeys(fields))
    labels = {}
    for f in fields:
        parts = f.split(".")
        for n in range(1, len(parts) + 1):
            label = ".".join(parts[-n:])
            if not any(g != f and (g == label or g.endswith("." + label)) for g in fields):
                break
        labels[f] = label
    return labels


def canonical(overrides: Mapping) -> str:
    return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
                      sort_keys=True, default=repr)


def _short_hash(overrides: Mapping) -> str:
    return hashlib.sha1(canonical(overrides).encode()).hexdigest()[:6]


def run_ids(runs: Sequence[Mapping]) -> list[str]:
    """One id per override dict: {"losses.discriminator": "hinge", "seed": 0} ->
    "discriminator-hinge_seed-0". Ids that would collide (or are too long) get a short hash of the
    overrides; identical override dicts are an error."""
    seen = {}
    for i, overrides in enumerate(runs):
        key = canonical(overrides)
        if key in seen:
            raise SweepError(f"Runs {seen[key]} and {i} of the sweep have the same overrides "
                             f"{key}; remove the duplicate.")
        seen[key] = i
    labels = _labels(k for r in runs for k in r)
    ids = ["_".join(f"{labels[k]}-{_slug(_short_spec(v) if k == BASE_KEY else v)}"
                    for k, v in r.items()) or "base" for r in runs]
    counts = {}
    for i in ids:
        counts[i.lower()] = counts.get(i.lower(), 0) + 1  # Case-insensitive filesystems too.
    return [f"{i[:_MAX_ID_LENGTH - 7].rstrip('_-.')}_{_short_hash(r)}"
            if counts[i.lower()] > 1 or len(i) > _MAX_ID_LENGTH else i
            for i, r in zip(ids, runs)]


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
    root: str  # ROOT/<name>
    runs: list
    metrics: list | None  # None: every numeric metric.


def _load_module(path: str):
    if not os.path.isfile(path):
        raise SweepError(f"Sweep file {path!r} does not exist (expected configs/sweeps/NAME.py).")
    name = "genmodels_sweep_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for fn in ("base", "sweep"):
        if not callable(getattr(module, fn, None)):
            raise SweepError(f"Sweep file {path} must define {fn}() (see genmodels/sweeps.py).")
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
    try:
        rebuilt = parse_config(base_spec, run_flags[2:])
    except Exception as e:
        raise SweepError(f"Run {run_id}: its command line does not parse ({e}); check the "
                         "override values.") from e
    bad = config_differences(config.to_dict(), rebuilt.to_dict())
    if bad:
        raise SweepError(f"Run {run_id}: the command line does not reproduce config field(s) "
                         f"{', '.join(bad)} (e.g. {bad[0]}={_flat(config.to_dict())[bad[0]]!r} "
                         f"became {_flat(rebuilt.to_dict()).get(bad[0])!r}); give those "
                         "overrides values of the field's type.")
    return Run(run_id, dict(overrides), workdir, config, run_flags)


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
    bases = {spec: load_base(spec)
             for spec in dict.fromkeys([base_spec] + [d.get(BASE_KEY, base_spec) for d in overrides])}
    sweep_root = os.path.join(os.path.abspath(root), name)
    runs = []
    for d, run_id in zip(overrides, run_ids(overrides)):
        spec = d.get(BASE_KEY, base_spec)
        runs.append(build_run(spec, bases[spec], d, fixed, run_id,
                              os.path.join(sweep_root, run_id)))
    metrics = list(module.metrics()) if hasattr(module, "metrics") else None
    return Sweep(name, base_spec, sweep_root, runs, metrics)


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
    from genmodels import data, evaluation, methods

    for run in runs:
        try:
            method = methods.build(run.config, data.get_info(run.config.data))
            evaluation.check_metrics(tuple(run.config.eval.metrics), method)
        except Exception as e:
            raise SweepError(f"Run {run.id}: {type(e).__name__}: {e}") from e


# ---------------------------------------------------------------------------------------------
# Running.

def saved_config_drift(run: Run) -> list[str]:
    """Fields where W/config.json differs from the run's config (empty if there is no file)."""
    if not workdir_lib.has_config(run.workdir):
        return []
    saved = workdir_lib.read_config_dict(run.workdir)
    return config_differences(json.loads(run.config.to_json()), saved)


def thread_env(parallel: int, cores: int) -> dict:
    """Environment giving each of `parallel` concurrent runs max(2, cores // parallel) threads;
    empty when runs go one at a time. XLA sizes its CPU thread pools from NPROC (else from the
    CPU affinity mask); the others cap numpy's BLAS. The floor of 2: one thread per run measured
    ~35% slower (docs/sweeps.md, "Cores")."""
    if parallel <= 1:
        return {}
    threads = str(max(2, cores // parallel))
    return {name: threads for name in ("NPROC", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                       "MKL_NUM_THREADS")}


def available_cores() -> int:
    """NPROC when set (a scheduler's CPU reservation, as XLA reads it), else the CPUs this process
    may run on."""
    if os.environ.get("NPROC", "").isdigit() and int(os.environ["NPROC"]) > 0:
        return int(os.environ["NPROC"])
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclasses.dataclass
class Outcome:
    run: Run
    status: str  # "ok" | "skipped" | "failed"
    seconds: float = 0.0
    returncode: int = 0


def _last_line(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s"


def run_all(runs: Sequence[Run], parallel: int = 1, python: str = sys.executable,
            log: Callable[[str], None] = print, poll_seconds: float = 0.2) -> list[Outcome]:
    """Runs each unfinished run as an `experiments.main` subprocess, `parallel` at a time, with
    its output in W/log.txt; finished runs are skipped, interrupted ones resume. A failed run does
    not stop the others."""
    outcomes, todo = [], []
    for run in runs:
        drift = saved_config_drift(run)
        if drift:
            log(f"warning: {run.id}: {os.path.join(run.workdir, 'config.json')} differs from the "
                f"sweep in {', '.join(drift[:5])}; delete {run.workdir} to rerun it from scratch.")
        if is_finished(run.workdir, run.config.train.num_steps):
            outcomes.append(Outcome(run, "skipped"))
        else:
            todo.append(run)
    total, done = len(runs), len(outcomes)
    if done:
        log(f"[{done}/{total}] skipped {done} finished run(s)")
    env = {**os.environ, **thread_env(parallel, available_cores())}
    started_at, running, queue = time.time(), [], list(todo)
    try:
        while queue or running:
            while queue and len(running) < parallel:
                run = queue.pop(0)
                os.makedirs(run.workdir, exist_ok=True)
                log_file = open(os.path.join(run.workdir, "log.txt"), "a")
                log_file.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {run.command(python)}\n")
                log_file.flush()
                process = subprocess.Popen(run.argv(python), stdout=log_file,
                                           stderr=subprocess.STDOUT, env=env)
                running.append((run, process, log_file, time.time()))
            time.sleep(poll_seconds)
            for item in [r for r in running if r[1].poll() is not None]:
                run, process, log_file, t0 = item
                running.remove(item)
                log_file.close()
                ok = process.returncode == 0
                outcomes.append(Outcome(run, "ok" if ok else "failed", time.time() - t0,
                                        process.returncode))
                done += 1
                ran = [o.seconds for o in outcomes if o.status != "skipped"]
                eta = sum(ran) / len(ran) * (total - done) / parallel
                note = "" if ok else f" (exit {process.returncode}: " \
                    f"{_last_line(os.path.join(run.workdir, 'log.txt'))[:200]})"
                log(f"[{done}/{total}] {'done' if ok else 'FAILED'} {run.id} in "
                    f"{_duration(time.time() - t0)}{note} | elapsed "
                    f"{_duration(time.time() - started_at)}, ETA {_duration(eta)}")
    except KeyboardInterrupt:
        for run, process, log_file, _ in running:
            process.terminate()
            process.wait()
            log_file.close()
        log(f"Interrupted; rerun the same command to resume ({len(running)} run(s) stopped).")
        raise
    order = {run.id: i for i, run in enumerate(runs)}
    return sorted(outcomes, key=lambda o: order[o.run.id])


# ---------------------------------------------------------------------------------------------
# Aggregation.

def _is_number(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def numeric_metrics(records: Iterable[dict]) -> list[str]:
    """Names of the numeric values in any record (null counts: it is how NaN is written)."""
    return sorted({k for r in records for k, v in r.items()
                   if k not in ("step", "split") and _is_number(v)})


def _float(v) -> float:
    return math.nan if v is None else float(v)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1); std is NaN for a single value."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    if any(math.isnan(v) for v in values):
        return math.nan, math.nan
    if min(values) == max(values):  # Exact for constant metrics (fsum / n can round).
        return values[0], (math.nan if n == 1 else 0.0)
    mean = math.fsum(values) / n
    if any(math.isinf(v) for v in values):
        return mean, math.nan
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


@dataclasses.dataclass
class Table:
    fields: list  # Swept fields other than the seed, in first-seen order.
    metrics: list
    rows: list  # One per run: (Run, record or None).
    groups: list  # One per setting: (setting tuple, [records]) in first-seen order.


def collect(runs: Sequence[Run], metrics: Sequence[str] | None = None) -> Table:
    """Each run's final record, grouped by its overrides other than the seed."""
    rows = [(run, final_record(run.workdir)) for run in runs]
    fields = list(dict.fromkeys(k for run in runs for k in run.overrides if k != SEED))
    found = [rec for _, rec in rows if rec]
    metrics = list(metrics) if metrics is not None else numeric_metrics(found)
    groups: dict[tuple, list] = {}
    for run, rec in rows:
        setting = tuple(run.overrides.get(f) for f in fields)  # None: not set by this run.
        groups.setdefault(tuple(map(canonical_value, setting)), (setting, []))[1].append(rec)
    return Table(fields, metrics, rows, [(s, [r for r in recs if r]) for s, recs in
                                         groups.values()])


def canonical_value(v) -> str:
    return json.dumps(list(v) if isinstance(v, tuple) else v, default=repr)


def _cell(v) -> str:
    if v is None:
        return ""
    return format_value(v)


def write_csv(table: Table, path: str) -> None:
    """One row per run: id, swept fields (seed included), step, metrics (empty if no results)."""
    swept = list(dict.fromkeys(k for run, _ in table.rows for k in run.overrides))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", *swept, "step", *table.metrics])
        for run, rec in table.rows:
            rec = rec or {}
            writer.writerow([run.id, *(_cell(run.overrides.get(k)) for k in swept),
                             rec.get("step", ""),
                             *(repr(_float(rec[m])) if m in rec else "" for m in table.metrics)])


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def summary_cell(values: Sequence[float]) -> str:
    mean, std = mean_std(values)
    if not values:
        return "–"
    return _fmt(mean) if len(values) == 1 else f"{_fmt(mean)} ± {_fmt(std)}"


def write_markdown(table: Table, path: str, title: str) -> None:
    """One row per setting: its swept values, n seeds, mean ± std (ddof=1) of each metric."""
    missing = [run.id for run, rec in table.rows if rec is None]
    lines = [f"# {title}", "",
             f"{len(table.rows) - len(missing)} of {len(table.rows)} runs have results; each "
             "cell is the mean ± std (ddof=1) over seeds of the final eval record (the final "
             "train record where a run has no eval).", ""]
    if missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        lines += [f"No results yet: {shown}.", ""]
    header = [*table.fields, "n", *table.metrics]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for setting, records in table.groups:
        if not records:
            continue
        cells = [_cell(v) for v in setting] + [str(len(records))]
        for m in table.metrics:
            values = [_float(r[m]) for r in records if m in r]
            cells.append(summary_cell(values) +
                         (f" (n={len(values)})" if len(values) < len(records) else ""))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def _numeric_fields(table: Table) -> list[str]:
    out = []
    for i, f in enumerate(table.fields):
        values = [s[i] for s, recs in table.groups if recs and s[i] is not None]
        if len(set(values)) > 1 and all(_is_number(v) for v in values):
            out.append(f)
    return out


def _settings_plot(plt, table: Table, metrics: list[str], directory: str) -> str:
    """settings.png: per metric, one row per setting with each seed's value (dots) and the mean
    ± std over seeds (bar): the view of categorical axes such as loss names."""
    groups = [(", ".join(f"{f.split('.')[-1]}={_cell(v)}" for f, v in zip(table.fields, setting)
                         if v is not None) or "(base)", records)
              for setting, records in table.groups if records]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics) + 3,
                                                       0.3 * len(groups) + 1.2),
                             squeeze=False, sharey=True)
    for ax, metric in zip(axes[0], metrics):
        for row, (_, records) in enumerate(groups):
            values = [_float(r[metric]) for r in records if metric in r]
            mean, std = mean_std(values)
            ax.errorbar([mean], [row], xerr=[0 if math.isnan(std) else std], fmt="s",
                        color="black", capsize=3, markersize=4)
            ax.plot(values, [row] * len(values), "o", alpha=0.5, markersize=3)
        ax.set_xlabel(metric)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(groups)), [label for label, _ in groups], fontsize=7)
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    path = os.path.join(directory, "settings.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_plots(table: Table, directory: str) -> list[str]:
    """metric vs value for each numeric swept field (one line per setting of the other fields,
    error bars = std over seeds), every setting's seeds and mean ± std per metric
    (settings.png), and precision vs recall when both exist. Returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    metrics = [m for m in table.metrics if not m.endswith("_num_samples")] or table.metrics
    os.makedirs(directory, exist_ok=True)
    for field in _numeric_fields(table):
        i = table.fields.index(field)
        lines: dict[tuple, list] = {}
        for setting, records in table.groups:
            if records and setting[i] is not None:
                rest = tuple((f, v) for j, (f, v) in enumerate(zip(table.fields, setting))
                             if j != i)
                lines.setdefault(rest, []).append((setting[i], records))
        fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            for rest, points in lines.items():
                points.sort(key=lambda p: p[0])
                stats = [mean_std([_float(r[metric]) for r in recs if metric in r])
                         for _, recs in points]
                label = ", ".join(f"{f.split('.')[-1]}={_cell(v)}" for f, v in rest) or None
                ax.errorbar([p[0] for p in points], [s[0] for s in stats],
                            yerr=[0 if math.isnan(s[1]) else s[1] for s in stats],
                            marker="o", capsize=3, label=label)
            ax.set_xlabel(field)
            ax.set_ylabel(metric)
            if len(lines) > 1 and len(lines) <= 12 and metric == metrics[0]:
                ax.legend(fontsize=6)
        fig.tight_layout()
        path = os.path.join(directory, f"{_slug(field)}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    if table.groups:
        paths.append(_settings_plot(plt, table, metrics, directory))
    if "precision" in table.metrics and "recall" in table.metrics:
        fig, ax = plt.subplots(figsize=(5, 4))
        for setting, records in table.groups:
            pts = [(_float(r["recall"]), _float(r["precision"])) for r in records
                   if "recall" in r and "precision" in r]
            if pts:
                label = ", ".join(f"{f.split('.')[-1]}={_cell(v)}"
                                  for f, v in zip(table.fields, setting)) or None
                ax.scatter(*zip(*pts), label=label)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        if 1 < len(table.groups) <= 12:
            ax.legend(fontsize=6)
        fig.tight_layout()
        path = os.path.join(directory, "precision_recall.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def aggregate(sweep: Sweep) -> dict:
    """Writes ROOT/<sweep>/results.csv, results.md and plots/*.png; returns their paths."""
    table = collect(sweep.runs, sweep.metrics)
    os.makedirs(sweep.root, exist_ok=True)
    paths = {"csv": os.path.join(sweep.root, "results.csv"),
             "md": os.path.join(sweep.root, "results.md")}
    write_csv(table, paths["csv"])
    write_markdown(table, paths["md"], f"Sweep {sweep.name} (base {sweep.base})")
    paths["plots"] = write_plots(table, os.path.join(sweep.root, "plots"))
    return paths
