"""Optimizers from config blocks (configs/default.py:adam)."""

import optax

_OPTIMIZERS = {
    "adam": lambda c, lr: optax.adam(lr, b1=c.b1, b2=c.b2),
    "adamw": lambda c, lr: optax.adamw(lr, b1=c.b1, b2=c.b2, weight_decay=c.weight_decay),
    "rmsprop": lambda c, lr: optax.rmsprop(lr),
    "sgd": lambda c, lr: optax.sgd(lr),
}
SCHEDULES = ("constant", "linear", "cosine")


def learning_rate(cfg, field: str):
    """The block's learning rate: a float (schedule `constant`), or a schedule over the player's
    optimizer updates t that holds `learning_rate` until t = decay_begin and then decays it to 0
    over decay_steps updates, linearly or as lr (1 + cos(pi s)) / 2 with s the decay's progress
    (Loshchilov & Hutter 2017, without restarts)."""
    name = cfg.schedule
    if name not in SCHEDULES:
        raise ValueError(f"Unknown learning-rate schedule {name!r} ({field}.schedule); valid "
                         f"names: {', '.join(SCHEDULES)}.")
    if name == "constant":
        return cfg.learning_rate
    begin, steps = cfg.decay_begin, cfg.decay_steps
    if not isinstance(steps, int) or steps < 1 or not isinstance(begin, int) or begin < 0:
        raise ValueError(f"{field}.schedule={name!r} needs {field}.decay_steps >= 1 and "
                         f"{field}.decay_begin >= 0 (integers, in optimizer updates); got "
                         f"decay_steps={steps!r}, decay_begin={begin!r}.")
    if name == "linear":
        return optax.linear_schedule(cfg.learning_rate, 0.0, steps, transition_begin=begin)
    return optax.join_schedules([optax.constant_schedule(cfg.learning_rate),
                                 optax.cosine_decay_schedule(cfg.learning_rate, steps)], [begin])


def make_optimizer(cfg, field: str) -> optax.GradientTransformation:
    """Builds the optimizer of config block `cfg` (at config path `field`), with optional clipping
    and learning-rate schedule."""
    if cfg.name not in _OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {cfg.name!r} ({field}.name); valid names: "
                         f"{', '.join(sorted(_OPTIMIZERS))}.")
    optimizer = _OPTIMIZERS[cfg.name](cfg, learning_rate(cfg, field))
    if cfg.grad_clip_norm:
        optimizer = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), optimizer)
    return optimizer
