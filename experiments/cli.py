"""What the command-line scripts share: errors a user caused print one message and exit 2.

A bad config name, field or value (ValueError, and config-flag errors while parsing), or a
workdir in a state the command cannot use (genmodels.workdir.WorkdirError: drift, lease,
checkpoint errors) prints `Error: <message>` and exits with code 2, without a traceback.
`--traceback`, or GENMODELS_TRACEBACK=1 in the environment, re-raises with the full traceback.
Any other exception (a bug, a full disk outside checkpoints) keeps its traceback.
"""

import difflib
import importlib.util
import os
import sys

from absl import app, flags

from genmodels import config as config_lib
from genmodels import workdir as workdir_lib

flags.DEFINE_boolean("traceback", False, "Show the full traceback of a user error (bad config, "
                     "workdir state) instead of one message; also GENMODELS_TRACEBACK=1.")

USAGE_EXIT = 2
USER_ERRORS = (ValueError, workdir_lib.WorkdirError)


class ConfigFlagError(ValueError):
    """A --config.FIELD override that names no field, or a config file that does not load."""


def _argv_value(argv, name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _load_config(spec: str):
    path, _, preset = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("_genmodels_cli_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(preset) if preset else module.get_config()


def config_field_names(spec: str) -> list[str]:
    """Every dotted field (and section) name of the config file `spec` (PATH[:PRESET])."""
    fields = config_lib.flatten(_load_config(spec).to_dict())
    sections = {f.rsplit(".", i)[0] for f in fields for i in range(1, f.count(".") + 1)}
    return sorted(set(fields) | sections)


def _not_read_by(spec: str, field: str) -> str:
    """", which method 'M' does not read" for a field outside the common sections."""
    if field.split(".")[0] in config_lib.COMMON_SECTIONS:
        return ""
    return f" (a field that method {_load_config(spec).method!r} does not read)"


def unknown_field_message(argv, error: Exception) -> str:
    """Names each --config.FIELD override that is not a field, with the closest valid names."""
    spec = _argv_value(argv, "config")
    try:
        names = config_field_names(spec)
    except Exception:  # noqa: BLE001 (the config itself failed: report ml_collections' words)
        return f"bad --config override: {' '.join(str(error).split())}"
    lines = []
    for arg in argv:
        if not arg.startswith("--config."):
            continue
        field = arg[len("--config."):].split("=", 1)[0]
        if field not in names:
            close = difflib.get_close_matches(field, names, n=3, cutoff=0.6)
            lines.append(f"--config.{field}: {spec} has no field {field!r}"
                         + _not_read_by(spec, field) + (
                f"; did you mean {', '.join(close)}?" if close else
                "; see the config file for its fields."))
    return "\n".join(lines) or f"bad --config override: {' '.join(str(error).split())}"


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except (AttributeError, KeyError) as e:  # ml_collections: an override names no field.
        raise ConfigFlagError(unknown_field_message(argv, e)) from e
    except flags.Error as e:
        if "Error whilst parsing config file" in str(e):  # The config file raised.
            raise ConfigFlagError(message(e)) from e
        return app.parse_flags_with_usage(argv)  # absl prints the error and usage, exits 1.


def message(error: Exception) -> str:
    """The user-facing text of `error`. A config file that raised while loading is wrapped by
    ml_collections in its whole traceback; its last line is the error."""
    text = str(error)
    if "Error whilst parsing config file" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return text


def traceback_wanted() -> bool:
    return (os.environ.get("GENMODELS_TRACEBACK", "") not in ("", "0") or any(
        a in ("--traceback", "--traceback=true", "--traceback=True", "--traceback=1")
        for a in sys.argv))


def run(main) -> None:
    """absl's app.run(main) with user errors as one message and exit code 2."""
    try:
        app.run(main, flags_parser=_parse_flags)
    except USER_ERRORS as e:
        if traceback_wanted():
            raise
        print(f"Error: {message(e)}\n(run with --traceback for the full traceback)",
              file=sys.stderr, flush=True)
        sys.exit(USAGE_EXIT)
