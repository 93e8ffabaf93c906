"""Optimizers from config blocks (configs/default.py:adam)."""

import optax

_OPTIMIZERS = {
    "adam": lambda c: optax.adam(c.learning_rate, b1=c.b1, b2=c.b2),
    "adamw": lambda c: optax.adamw(c.learning_rate, b1=c.b1, b2=c.b2, weight_decay=c.weight_decay),
    "rmsprop": lambda c: optax.rmsprop(c.learning_rate),
    "sgd": lambda c: optax.sgd(c.learning_rate),
}


def make_optimizer(cfg, field: str) -> optax.GradientTransformation:
    """Builds the optimizer of config block `cfg` (at config path `field`), with optional clipping."""
    if cfg.name not in _OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {cfg.name!r} ({field}.name); valid names: "
                         f"{', '.join(sorted(_OPTIMIZERS))}.")
    optimizer = _OPTIMIZERS[cfg.name](cfg)
    if cfg.get("grad_clip_norm", 0.0):
        optimizer = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), optimizer)
    return optimizer
