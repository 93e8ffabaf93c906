"""GAN with the DCGAN recipe (Radford et al. 2016) or the 2-D mixture MLP protocol.

DCGAN: tanh output, strided convs (sub-pixel upsampling in G), batch norm, LeakyReLU 0.2 in D,
Adam 2e-4 beta1 0.5, N(0, 0.02) init, non-saturating loss.
Presets: default = digits (CPU minutes); the 2-D mixture protocol (G 4x400 ReLU+BN, D 3x200
maxout(5), z in R^2, Adam 1e-4 beta1 0.8, batch 100) as ring8_plain / grid25_plain, with the
published code's training details (`protocol`) as ring8_protocol / grid25_protocol, and with those
details plus a generator EMA and a learning-rate decay (`annealed`) as ring8 / grid25, the presets
meant to reach the published quality within their own budget (docs/adversarial.md); cifar10.
"""

from configs import default


def _digits():
    c = default.base_config()
    c.method = "gan"
    c.data.name = "digits"
    c.data.batch_size = 64
    c.model = dict(
        arch="dcgan",  # dcgan | sngan (ResNet, 16/32/48/64 px) | mlp (2-D points)
        latent_dim=64,
        base_features=256,  # 8x8 digits: one conv per net, so width carries the capacity
        upsample="subpixel",  # or "transpose"
        use_batch_norm=True,
        g_hidden=(400, 400, 400, 400),  # mlp only
        d_hidden=(200, 200, 200),  # mlp only
        maxout=5,  # mlp only: maxout pieces in D (1 = LeakyReLU)
        sngan_g_features=256,  # sngan only: widths of Miyato et al. 2018
        sngan_d_features=128,
        spectral_norm=True,  # sngan only: spectral norm on every D layer
        stddev_group=0,  # > 0: minibatch standard deviation feature in D (mlp, sngan)
        ema_decay=0.0,  # > 0: sample from an EMA of the generator weights
        # mlp with batch norm: the EMA samples with "standing" batch statistics (its own, on
        # 10,000 z) or the "live" generator's running averages (as before; issue 26's factor 5)
        ema_batch_stats="standing",
        conditional=False,  # class-conditional G and D (needs labels)
        pack=1,  # PacGAN-k: D judges k samples at once
        replay_size=0,  # > 0: experience replay buffer of past fakes
        replay_fraction=0.5,  # share of each D step's fakes drawn from the buffer
        init="default",  # mlp only: "default" (Flax's LeCun normal) | "normal_0.02" (every weight)
        bn_epsilon=1e-5,  # mlp only: the generator's batch norm epsilon
        bn_momentum=0.9,  # mlp only: its running averages, ra <- momentum ra + (1 - momentum) x
    )
    c.losses = dict(
        discriminator="non_saturating",  # hinge | wasserstein | least_squares | minimax | ...
        generator="non_saturating",  # log_ratio | hinge | wasserstein | least_squares | ...
        penalty="none",  # wgan_gp | r1 | r2 | dragan
        penalty_weight=10.0,
        weight_clip=0.0,  # > 0: WGAN weight clipping of D to [-c, c]
    )
    # simultaneous: D and G take their gradients at the same params, batch and z, then both update
    # (needs d_steps = g_steps = 1); False: D updates, then G with fresh z.
    c.schedule = dict(d_steps=1, g_steps=1, simultaneous=False)
    c.optim = dict(generator=default.adam(2e-4, b1=0.5), discriminator=default.adam(2e-4, b1=0.5))
    c.train.num_steps = 6000
    c.train.log_every = 200
    c.train.checkpoint_every = 2000
    c.train.sample_every = 1000
    c.eval.every = 0
    c.eval.metrics = ()
    return c


# Model fields only the gan method reads (the conditioning, packing, replay and SNGAN options);
# configs built from this one for other methods (bgan, ali) delete them.
GAN_ONLY_FIELDS = ("conditional", "pack", "replay_size", "replay_fraction", "stddev_group",
                   "sngan_g_features", "sngan_d_features", "spectral_norm")


def _ring8():
    c = _digits()
    c.data.name = "ring8"
    c.data.batch_size = 100
    c.model.arch = "mlp"
    c.model.latent_dim = 2
    c.train.sample_every = 1000
    c.eval.every = 1000
    c.eval.metrics = ("modes",)
    c.optim.generator = default.adam(1e-4, b1=0.8)
    c.optim.discriminator = default.adam(1e-4, b1=0.8)
    c.train.num_steps = 5000
    # XLA:CPU's own dot emitter: 1.5x the steps/s of YNNPACK's at these 100-row matmuls
    # (benchmarks/results/seed_vmap*.json, docs/benchmarks.md); speed only.
    c.train.cpu_ynn_fusions = False
    return c


def _sngan_cifar10():
    """SNGAN (Miyato et al. 2018), ResNet + spectral norm + hinge loss, CIFAR-10 settings:
    Adam 2e-4 (0, 0.9), 5 D steps per G step, batch 64."""
    c = _cifar10()
    c.model.arch = "sngan"
    c.model.latent_dim = 128
    c.losses.discriminator = "hinge"
    c.losses.generator = "hinge"
    c.schedule.d_steps = 5
    c.optim.generator = default.adam(2e-4, b1=0.0, b2=0.9)
    c.optim.discriminator = default.adam(2e-4, b1=0.0, b2=0.9)
    return c


def _grid25():
    c = _ring8()
    c.data.name = "grid25"
    return c


def protocol(c, num_steps: int = 20_000):
    """The 2-D mixture preset `c` with the training details of the code behind the published
    protocol (ALI's mixture code, reused by VEEGAN and PacGAN; issue 26), in place:
    - Adam beta1 0.2 for both players. The code passes 0.8 to Blocks' Adam, which until January
      2017 took that argument as one minus the momentum. That the runs behind the published
      tables used such a Blocks is this project's reading, one of the factors the ablation tests.
    - simultaneous updates: both players' gradients at the same params, batch and z.
    - every weight drawn from N(0, 0.02) (biases zero).
    - generator batch norm epsilon 1e-4 and running-average rate 0.05 (Flax momentum 0.95).
    num_steps: 20,000 by default, a CPU budget; the protocol trains 400 epochs of 1,000 batches
    (400,000 steps)."""
    for player in ("generator", "discriminator"):
        c.optim[player].b1 = 0.2
    c.schedule.simultaneous = True
    c.model.init = "normal_0.02"
    c.model.bn_epsilon = 1e-4
    c.model.bn_momentum = 0.95
    c.train.num_steps = num_steps
    c.train.checkpoint_every = 5000
    c.train.sample_every = 5000
    c.eval.every = 1000
    return c


def annealed(c, num_steps: int):
    """The protocol preset `c` (`protocol`) with what configs/sweeps/protocol_schedule.py
    measured to steady and raise its high-quality share, in place: samples from an EMA of the
    generator weights (decay 0.99, with its own standing batch statistics), both learning rates
    decayed linearly to 0 over the second half of num_steps, 50 steps per compiled call."""
    c.model.ema_decay = 0.99
    c.model.ema_batch_stats = "standing"
    for player in ("generator", "discriminator"):
        c.optim[player].schedule = "linear"
        c.optim[player].decay_begin = num_steps // 2
        c.optim[player].decay_steps = num_steps - num_steps // 2
    c.train.num_steps = num_steps
    c.train.steps_per_call = 50
    return c


# The shipped ring8 / grid25 GAN's steps, to fit issue 26's 20 minutes with a run alone on the
# 2-core CPU: a 4,000-step timing alone (2026-12-06) ran 72 steps/s, 14 minutes for these;
# configs/sweeps/presets_2d.py measures the runs themselves.
ANNEALED_GAN_STEPS = 60_000


def _cifar10():
    c = _digits()
    c.data.name = "cifar10"
    c.model.latent_dim = 100
    c.model.base_features = 64
    c.train.num_steps = 100_000
    c.train.log_every = 500
    c.train.checkpoint_every = 5000
    c.train.sample_every = 2000
    return c


def get_config(arg=None):
    presets = {"default": _digits, "digits": _digits,
               "ring8_plain": _ring8, "grid25_plain": _grid25,
               "ring8_protocol": lambda: protocol(_ring8()),
               "grid25_protocol": lambda: protocol(_grid25()),
               "ring8": lambda: annealed(protocol(_ring8()), ANNEALED_GAN_STEPS),
               "grid25": lambda: annealed(protocol(_grid25()), ANNEALED_GAN_STEPS),
               "cifar10": _cifar10, "sngan_cifar10": _sngan_cifar10}
    return default.select_preset(presets, arg, "configs/gan.py")()
