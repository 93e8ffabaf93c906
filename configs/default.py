"""Fields every config has: they live in genmodels.config (the library's one home for defaults);
config files import them from here or from there."""

from genmodels.config import adam, base_config, select_preset

__all__ = ["adam", "base_config", "select_preset"]
