"""Pure loss functions, chosen by name from the config (see registry.get)."""

from genmodels.losses import gan, penalties  # noqa: F401  (registers the losses)
from genmodels.losses.registry import get, names, register

__all__ = ["get", "names", "register"]
