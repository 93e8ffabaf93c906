"""Methods by name: `config.method` selects the builder, which validates the config."""

from genmodels.methods import aae, ali, bgan, gan, vae
from genmodels.methods.base import Method, Player, split_variables, variables_of

METHODS = {"vae": vae.build, "gan": gan.build, "bgan": bgan.build, "ali": ali.build,
           "aae": aae.build}


def build(config, info) -> Method:
    """Builds config.method for a dataset (DatasetInfo); config errors surface here."""
    if config.method not in METHODS:
        raise ValueError(f"Unknown method {config.method!r} (config field method); valid: "
                         f"{', '.join(sorted(METHODS))}.")
    return METHODS[config.method](config, info)


__all__ = ["METHODS", "Method", "Player", "build", "split_variables", "variables_of"]
