"""Which of the published code's training details move the high-quality share on grid25
(issue 26; docs/adversarial.md): the protocol GAN of `configs/gan.py:grid25_plain` with each factor
switched on alone, then factors 1-4 together (`configs/gan.py:grid25_protocol`), 3 seeds each,
at one budget of NUM_STEPS steps.

  python -m experiments.sweep --sweep=configs/sweeps/protocol_ablation.py --workdir=ROOT

1. Adam beta1 0.2 for both players (Blocks' Adam took 0.8 as one minus the momentum).
2. Simultaneous updates (both gradients at the same params, batch and z).
3. Every weight drawn from N(0, 0.02).
4. Generator batch norm epsilon 1e-4, running-average rate 0.05 (Flax momentum 0.95).
5. An EMA generator (decay 0.99) sampled with the live generator's batch-norm running averages,
   against the same EMA sampled with its own (standing) statistics, the project's default.

Every run evaluates modes, hq_fraction and reverse_kl on 2,500 samples every EVAL_EVERY steps;
ROOT/protocol_ablation/results.md has the final evaluation and the mean over the last
LAST_EVALS evaluations (M_last<K>), each as mean ± std over seeds.
"""

from genmodels.sweeps import seeds

NUM_STEPS = 30_000
EVAL_EVERY = 1000
LAST_EVALS = 5  # The mean over steps 26k-30k.
GAN, PROTOCOL = "configs/gan.py:grid25_plain", "configs/gan.py:grid25_protocol"


def base():
    return GAN


def fixed():
    return {"train.num_steps": NUM_STEPS, "train.steps_per_call": 50,
            "train.checkpoint_every": NUM_STEPS // 3, "train.sample_every": NUM_STEPS,
            "train.log_every": 1000, "eval.every": EVAL_EVERY}


def arms():
    return [
        {"config": GAN},  # As shipped: none of the factors.
        {"config": GAN, "optim.generator.b1": 0.2, "optim.discriminator.b1": 0.2},  # 1
        {"config": GAN, "schedule.simultaneous": True},  # 2
        {"config": GAN, "model.init": "normal_0.02"},  # 3
        {"config": GAN, "model.bn_epsilon": 1e-4, "model.bn_momentum": 0.95},  # 4
        {"config": GAN, "model.ema_decay": 0.99, "model.ema_batch_stats": "live"},  # 5, as was
        {"config": GAN, "model.ema_decay": 0.99, "model.ema_batch_stats": "standing"},  # 5, fixed
        {"config": PROTOCOL},  # 1-4 together.
    ]


def sweep():
    return [{**arm, **seed} for arm in arms() for seed in seeds(3)]


def metrics():
    return ["modes", "hq_fraction", "reverse_kl"]


def last_evals():
    return LAST_EVALS
