"""GAN with the DCGAN recipe (Radford et al. 2016) or the 2-D mixture MLP protocol.

DCGAN: tanh output, strided convs (sub-pixel upsampling in G), batch norm, LeakyReLU 0.2 in D,
Adam 2e-4 beta1 0.5, N(0, 0.02) init, non-saturating loss.
Presets: default (digits, CPU minutes), ring8 (MLP on the 8-Gaussian ring), cifar10.
"""

from configs import default


def _digits():
    c = default.base_config()
    c.method = "gan"
    c.data.name = "digits"
    c.data.batch_size = 64
    c.model = dict(
        arch="dcgan",  # dcgan | mlp
        latent_dim=64,
        base_features=256,  # 8x8 digits: one conv per net, so width carries the capacity
        upsample="subpixel",  # or "transpose"
        use_batch_norm=True,
        g_hidden=(400, 400, 400, 400),  # mlp only
        d_hidden=(200, 200, 200),  # mlp only
        maxout=5,  # mlp only: maxout pieces in D (1 = LeakyReLU)
        ema_decay=0.0,  # > 0: sample from an EMA of the generator weights
        conditional=False,  # class-conditional G and D (needs labels)
        pack=1,  # PacGAN-k: D judges k samples at once
        replay_size=0,  # > 0: experience replay buffer of past fakes
        replay_fraction=0.5,  # share of each D step's fakes drawn from the buffer
    )
    c.losses = dict(
        discriminator="non_saturating",  # hinge | wasserstein | least_squares | minimax | ...
        generator="non_saturating",  # log_ratio | hinge | wasserstein | least_squares | ...
        penalty="none",  # wgan_gp | r1 | r2 | dragan
        penalty_weight=10.0,
        weight_clip=0.0,  # > 0: WGAN weight clipping of D to [-c, c]
    )
    c.schedule = dict(d_steps=1, g_steps=1)
    c.optim = dict(generator=default.adam(2e-4, b1=0.5), discriminator=default.adam(2e-4, b1=0.5))
    c.train.num_steps = 6000
    c.train.log_every = 200
    c.train.checkpoint_every = 2000
    c.train.sample_every = 1000
    c.eval.every = 0
    c.eval.metrics = ()
    return c


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
    return c


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
    return default.select_preset({"default": _digits, "ring8": _ring8, "cifar10": _cifar10}, arg,
                                 "configs/gan.py")()
