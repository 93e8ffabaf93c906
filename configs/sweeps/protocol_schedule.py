"""What a generator EMA and a learning-rate decay add to the protocol presets (issue 26;
docs/adversarial.md): the high-quality share of the 2-D protocol rises slowly at a constant
learning rate, and the presets must reach it within their own budget.

  python -m experiments.sweep --sweep=configs/sweeps/protocol_schedule.py --workdir=ROOT \
      --parallel=2

Two methods on `grid25_protocol`: M-BGAN with 4 mixed batches per D update (the best
mixed-batch row of the 1,500-step table), and the GAN. Each with
- an EMA generator (decay 0.99, sampled with its own standing batch statistics),
- both learning rates decayed linearly to 0 over the second half of the run,
- both;
M-BGAN also with neither (the GAN's is `protocol_ablation.py`'s grid25_protocol arm, the same
runs). 3 seeds, the ablation's budget and evaluation schedule, so the rows sit next to its table.
"""

from configs.sweeps import protocol_ablation
from genmodels.sweeps import seeds

NUM_STEPS = protocol_ablation.NUM_STEPS
GAN, BGAN = "configs/gan.py:grid25_protocol", "configs/bgan.py:grid25_protocol"
EMA = {"model.ema_decay": 0.99, "model.ema_batch_stats": "standing"}


def decay(num_steps: int) -> dict:
    """Overrides that decay both learning rates linearly to 0 over the second half of a run of
    num_steps (as configs/gan.py:annealed does in a preset)."""
    return {f"optim.{player}.{field}": value for player in ("generator", "discriminator")
            for field, value in (("schedule", "linear"), ("decay_begin", num_steps // 2),
                                 ("decay_steps", num_steps - num_steps // 2))}


DECAY = decay(NUM_STEPS)
MBGAN4 = {"config": BGAN, "bgan.variant": "mbgan", "bgan.mixes_per_step": 4}


def base():
    return GAN


def fixed():
    return protocol_ablation.fixed()  # Its budget and evaluation schedule.


def arms():
    # M-BGAN first: the bgan presets' choice depends on its rows.
    return [
        {**MBGAN4, **EMA, **DECAY}, MBGAN4, {**MBGAN4, **EMA}, {**MBGAN4, **DECAY},
        {"config": GAN, **EMA, **DECAY}, {"config": GAN, **EMA}, {"config": GAN, **DECAY},
    ]


def sweep():
    return [{**arm, **seed} for arm in arms() for seed in seeds(3)]


def metrics():
    return [*protocol_ablation.metrics(), "train_minutes"]


def last_evals():
    return protocol_ablation.last_evals()
