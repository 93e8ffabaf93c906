"""Candidates for the `configs/bgan.py:grid25` preset (issue 26; docs/bgan.md): M-BGAN with 4
mixed batches per D update on `grid25_protocol` with a generator EMA and a linear learning-rate
decay over the second half (protocol_schedule.py's best M-BGAN arm: 42.5 ± 4.3% high quality at
30k steps), changed one way at a time, to find what reaches the preset target (>= 24 modes and
>= 90% high quality within 20 minutes alone on the 2-core CPU).

  python -m experiments.sweep --sweep=configs/sweeps/bgan_preset_search.py --workdir=ROOT

A search, seed 0 only: a row says which change is worth 3 seeds, not that it holds.
- twice the steps (60k), the decay stretched to its second half: is the share a matter of budget?
- a slower EMA (0.999): less jitter left in the sampled generator;
- twice the learning rates (2e-4): a faster climb;
- 2 mixes instead of 4: a cheaper step, so more steps in the same minutes;
- no set layers (`model.d_set_layers=()`): each element's score sees that element only. M-BGAN
  scores every element of a mix against the mix's one target, real and fake alike, so a point's
  own realness reaches D's loss only through the batch statistics of the set layers; without
  them the best per-element score is E[t | x_i], which separates real points from fake ones;
- one set layer, after the last hidden layer only (`model.d_set_layers=(3,)`): the batch
  statistic comes in once, late, beside per-element features of the full depth;
- a per-slot term (`bgan.element_weight=1`): the set layers kept, every score also judged
  against its own slot's kind (real or generated), the per-point signal that the shared target
  lacks;
- a per-sample discriminator beside the set one (`bgan.point_weight=1`, on the finalist): the
  set layers' batch statistic spreads the mass over the modes, and a second D without set
  layers gives the generator the GAN's per-point signal that sharpens each mode; and the same
  at 120k steps: where its share goes once the budget is not the limit.

The finalists, 3 seeds each: the per-slot term with 2 mixes at 60k steps, shipped as
`configs/bgan.py:grid25` (tests/sweeps/test_shipped_sweeps.py checks they are the same runs);
the same plus the per-sample discriminator.

Its results files: benchmarks/results/bgan_preset_search.csv and _evals.csv (every evaluation).
Runs whose workdirs are gone keep their rows through --previous_results / --previous_evals.
"""

from configs.sweeps import protocol_ablation, protocol_schedule
from genmodels.sweeps import seeds

NUM_STEPS = protocol_ablation.NUM_STEPS
# protocol_schedule's best M-BGAN arm, which every arm and finalist changes.
CANDIDATE = {**protocol_schedule.MBGAN4, **protocol_schedule.EMA}


def budget(num_steps: int) -> dict:
    """Steps, checkpoints and samples of a run of num_steps, the decay over its second half."""
    return {"train.num_steps": num_steps, "train.checkpoint_every": num_steps // 3,
            "train.sample_every": num_steps, **protocol_schedule.decay(num_steps)}


def finalist() -> dict:
    """The finalist's setting: 2 mixes and the per-slot term at the 60k budget."""
    return {**CANDIDATE, **budget(2 * NUM_STEPS), "bgan.mixes_per_step": 2,
            "bgan.element_weight": 1.0}


def base():
    return protocol_schedule.BGAN


def fixed():
    shared = protocol_ablation.fixed()
    return {k: v for k, v in shared.items() if k not in budget(NUM_STEPS)}


def arms():
    return [
        {**CANDIDATE, **budget(2 * NUM_STEPS)},
        {**CANDIDATE, **budget(NUM_STEPS), "model.ema_decay": 0.999},
        {**CANDIDATE, **budget(NUM_STEPS), "optim.generator.learning_rate": 2e-4,
         "optim.discriminator.learning_rate": 2e-4},
        {**CANDIDATE, **budget(NUM_STEPS), "bgan.mixes_per_step": 2},
        {**CANDIDATE, **budget(NUM_STEPS), "model.d_set_layers": ()},
        {**CANDIDATE, **budget(NUM_STEPS), "model.d_set_layers": (3,)},
        # The two cheaper steps at the 60k budget (2 mixes: 17.5-18.1 minutes alone, measured).
        {**CANDIDATE, **budget(2 * NUM_STEPS), "bgan.mixes_per_step": 2},
        {**CANDIDATE, **budget(2 * NUM_STEPS), "model.d_set_layers": ()},
        {**CANDIDATE, **budget(NUM_STEPS), "bgan.element_weight": 1.0},
        # The point finalist with one mix (a cheaper step); with the point losses 3 times heavier.
        {**finalist(), "bgan.mixes_per_step": 1, "bgan.point_weight": 1.0},
        {**finalist(), "bgan.point_weight": 3.0},
        # The point finalist at twice the steps (the decay over the second half): where its
        # share goes once the budget is not the limit.
        {**finalist(), **budget(4 * NUM_STEPS), "bgan.point_weight": 1.0},
    ]


def finalists():
    """The shipped preset and the same plus a per-sample discriminator beside the set one."""
    return [finalist(), {**finalist(), "bgan.point_weight": 1.0}]


def sweep():
    return ([{**arm, **seed} for arm in arms() for seed in seeds(1)]
            + [{**arm, **seed} for arm in finalists() for seed in seeds(3)])


def metrics():
    return protocol_schedule.metrics()


def last_evals():
    return protocol_schedule.last_evals()
