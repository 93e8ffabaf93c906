"""Methods by name: `config.method` selects the builder module, which validates the config.

Each entry names a module with `build(config, info) -> Method`; it is imported on first use, so
a method's dependencies (e.g. scikit-learn for the RAE's ex-post density) load only when used.
"""

import importlib

from genmodels.config import check_method_fields
from genmodels.methods.base import Method, Player, sampling_variables, split_variables, variables_of

METHODS = {name: f"genmodels.methods.{name}" for name in (
    "vae", "ae", "rae", "flow", "pixelcnn", "agave", "gan", "bgan", "ali", "aae", "hybrid",
    "idgan")}


def build(config, info) -> Method:
    """Builds config.method for a dataset (DatasetInfo); config errors surface here, among them
    any field the method does not read (its module's CONFIG_FIELDS)."""
    if config.method not in METHODS:
        raise ValueError(f"Unknown method {config.method!r} (config field method); valid: "
                         f"{', '.join(sorted(METHODS))}.")
    module = importlib.import_module(METHODS[config.method])
    check_method_fields(config, config.method, module.CONFIG_FIELDS)
    return module.build(config, info)


__all__ = ["METHODS", "Method", "Player", "build", "sampling_variables", "split_variables",
           "variables_of"]
