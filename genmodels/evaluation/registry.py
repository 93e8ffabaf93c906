"""Metric families by name, and which metrics a method can report.

A family is a class registered with `@register`: `name`, the metric names it answers
(`metrics`), `requirement(method, info)` (why the method or dataset cannot have it, or None), and
an instance built from (method, config, mesh, requested names, dataset info) that is called as
`family(variables, rng, split) -> dict` and leaves strings for the eval JSON in `.metadata`.
Adding a family is one module that defines and registers its class (imported by the package's
__init__).

A method can report a metric when its family's requirement holds and the method declares the
metric in `Method.metrics`, except for families with `implied = True` (sample metrics, which
need only `Method.sample`, which every method has).
"""

import numpy as np

from genmodels.methods.base import Method

FAMILIES: dict[str, type] = {}  # name -> family class, in evaluation order
METRIC_FAMILIES: dict[str, str] = {}  # metric name -> family name


class Family:
    """Base of the metric families: holds what every family is built from."""

    name: str = ""
    metrics: tuple[str, ...] = ()
    implied = False  # True: every method has it (no Method.metrics declaration needed).
    rng_index = 0  # Its randomness is fold_in(rng, rng_index) of the evaluation's rng (0: rng).
    reported_as: dict[str, str] = {}  # Result key -> the request it answers, where they differ.

    def __init__(self, method: Method, config, mesh, names: tuple[str, ...], info):
        """Checks the config (before any training or compilation) and keeps what it needs."""
        self.method, self.config, self.mesh, self.names, self.info = (method, config, mesh,
                                                                      names, info)
        self.metadata: dict = {}

    @staticmethod
    def requirement(method: Method, info) -> str | None:
        """Why `method` on dataset `info` (None: any dataset) cannot have this family."""
        return None

    def __call__(self, variables, rng, split: str) -> dict:
        raise NotImplementedError


def register(cls: type) -> type:
    """Class decorator: adds a family and its metric names to the registry."""
    if cls.name in FAMILIES:
        raise ValueError(f"Metric family {cls.name!r} is registered twice.")
    for metric in cls.metrics:
        if metric in METRIC_FAMILIES:
            raise ValueError(f"Metric {metric!r} of family {cls.name!r} already belongs to "
                             f"{METRIC_FAMILIES[metric]!r}.")
    METRIC_FAMILIES.update({metric: cls.name for metric in cls.metrics})
    FAMILIES[cls.name] = cls
    return cls


def unsupported_reason(name: str, method: Method, info=None) -> str | None:
    """Why `method` on dataset `info` cannot report `name` (None: it can)."""
    family = FAMILIES[METRIC_FAMILIES[name]]
    reason = family.requirement(method, info)
    if reason is None and not family.implied and name not in method.metrics:
        reason = "it does not compute it (not in its Method.metrics)"
    return reason


def supported_metrics(method: Method, info=None) -> tuple[str, ...]:
    return tuple(n for n in METRIC_FAMILIES if unsupported_reason(n, method, info) is None)


def check_metrics(names, method: Method, info=None) -> None:
    """Fails before training if `eval.metrics` names an unknown or unsupported metric."""
    for name in names:
        if name not in METRIC_FAMILIES:
            requests = {k: v for cls in FAMILIES.values() for k, v in cls.reported_as.items()}
            hint = (f" ({name!r} is the key that {requests[name]!r} is reported under; request "
                    f"{requests[name]!r})") if name in requests else ""
            raise ValueError(f"Unknown metric {name!r} in eval.metrics{hint}; valid metrics: "
                             f"{', '.join(sorted(METRIC_FAMILIES))}.")
        reason = unsupported_reason(name, method, info)
        if reason:
            raise ValueError(f"Method {method.name!r} (as configured) cannot report {name!r}: "
                             f"{reason}; it supports {list(supported_metrics(method, info))}. "
                             "Leave it out of eval.metrics (--config.eval.metrics for training, "
                             "--metrics for experiments.evaluate).")


def nonfinite_terms(metrics: dict) -> list[str]:
    return sorted(k for k, v in metrics.items() if not np.all(np.isfinite(np.asarray(v))))
