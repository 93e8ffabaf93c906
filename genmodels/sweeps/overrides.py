"""Config overrides of a sweep run: loading a config as `experiments.main` does, applying dotted
overrides with type checks, the command line that reproduces them (checked by a round trip
through the same parser), and readable, stable run ids."""

import ast
import copy
import difflib
import hashlib
import json
import os
import re
import warnings
from typing import Iterable, Mapping, Sequence

from absl import flags
from ml_collections import config_dict, config_flags

from genmodels.config import config_differences, flatten

SEED = "seed"
BASE_KEY = "config"  # An override key naming the run's config file[:preset] instead of base().
_MAX_ID_LENGTH = 120


class SweepError(ValueError):
    """A sweep file, an override or a run that cannot be used; the message says how to fix it."""


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


def check_round_trip(run_id: str, base_spec: str, config: config_dict.ConfigDict,
                     flag_args: Sequence[str]) -> None:
    """Raises a SweepError naming the run unless `--config=BASE_SPEC *flag_args` rebuilds
    `config` exactly."""
    try:
        rebuilt = parse_config(base_spec, flag_args)
    except Exception as e:
        raise SweepError(f"Run {run_id}: its command line does not parse ({e}); check the "
                         "override values.") from e
    bad = config_differences(config.to_dict(), rebuilt.to_dict())
    if bad:
        was, became = (flatten(c.to_dict()).get(bad[0]) for c in (config, rebuilt))
        raise SweepError(f"Run {run_id}: the command line does not reproduce config field(s) "
                         f"{', '.join(bad)} (e.g. {bad[0]}={was!r} became {became!r}); give those "
                         "overrides values of the field's type.")


# ---------------------------------------------------------------------------------------------
# Run ids: readable, unique, stable for the same sweep file.

def slug(value) -> str:
    """`value` as a file-name-safe word."""
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


def canonical_value(v) -> str:
    return json.dumps(list(v) if isinstance(v, tuple) else v, default=repr)


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
    ids = ["_".join(f"{labels[k]}-{slug(_short_spec(v) if k == BASE_KEY else v)}"
                    for k, v in r.items()) or "base" for r in runs]
    counts = {}
    for i in ids:
        counts[i.lower()] = counts.get(i.lower(), 0) + 1  # Case-insensitive filesystems too.
    return [f"{i[:_MAX_ID_LENGTH - 7].rstrip('_-.')}_{_short_hash(r)}"
            if counts[i.lower()] > 1 or len(i) > _MAX_ID_LENGTH else i
            for i, r in zip(ids, runs)]
