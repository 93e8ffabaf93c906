"""Name -> pure loss function registry, one namespace per kind of loss.

A config names a loss either by its registered name (`--config.losses.generator=minimax`) or by
import path (`--config.losses.generator=mypkg.losses:my_loss`), so new losses need no change here.
"""

import importlib
from typing import Callable

_REGISTRY: dict[str, dict[str, Callable]] = {}


def register(kind: str, name: str):
    """Decorator: registers `fn` as loss `name` of `kind` ('discriminator', 'generator', ...)."""

    def decorator(fn):
        table = _REGISTRY.setdefault(kind, {})
        if name in table:
            raise ValueError(f"{kind} loss {name!r} is registered twice.")
        table[name] = fn
        return fn

    return decorator


def names(kind: str) -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY.get(kind, {})))


def get(kind: str, name: str, field: str = "") -> Callable:
    """Looks up a loss by registered name or 'module.path:function'; errors list the valid names."""
    where = f" (config field {field})" if field else ""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"Cannot import {kind} loss {name!r}{where}: {e}") from e
        if not callable(fn):
            raise ValueError(f"{kind} loss {name!r}{where} is not callable.")
        return fn
    table = _REGISTRY.get(kind, {})
    if name not in table:
        raise ValueError(f"Unknown {kind} loss {name!r}{where}; valid names: {', '.join(names(kind))}, "
                     "or an import path 'package.module:function'.")
    return table[name]
