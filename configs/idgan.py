"""ID-GAN (Lee et al., ECCV 2020): stage 1 a beta-VAE, stage 2 a GAN generator G(s, c) on the
frozen encoder's code c plus nuisance s, with the info term w_info * -ln q(c | G(s, c)).
See docs/idgan.md.

One command trains both stages (stage 1 in W/stage1, then stage 2 in W):
  python -m experiments.main --config=configs/idgan.py --workdir=/tmp/idgan
Stage 2 from an existing stage-1 run (a configs/betavae.py workdir on the same data and size):
  python -m experiments.main --config=configs/idgan.py --workdir=/tmp/idgan2 \
      --config.model.stage1_workdir=/tmp/betavae
Stage-1 fields are under `stage1` (a whole configs/betavae.py config), e.g.
--config.stage1.train.num_steps=1000.

Presets:
  default     procedural dSprites at 32x32, both stages in CPU minutes (stage 1 = configs/betavae.py
              default with ID-GAN's beta = 8; stage 2 with Adam and a short EMA for the short run).
  dsprites64  the paper's dSprites setting (REFERENCES.md): 64x64, stage 1 =
              configs/betavae.py:idgan (10 latents, beta 8, Bernoulli decoder), w_info 1e-4, R1 gamma 10, RMSprop 1e-4,
              generator EMA 0.999.
  celeba64    CelebA 64x64 (TFDS celeb_a), stage 1 = configs/betavae.py:celeba64 (32 latents).
The DCGAN nets (model.g_features / d_features) and nuisance_dim are this project's choices;
the paper used ResNet GANs for its high-resolution results.
"""

from ml_collections import config_dict

from configs import betavae, default


def rmsprop(learning_rate: float) -> config_dict.ConfigDict:
    c = default.adam(learning_rate)
    c.name = "rmsprop"
    return c


def _dsprites32():
    c = default.base_config()
    c.method = "idgan"
    stage1 = betavae.get_config("default")
    stage1.model.beta = 8.0  # ID-GAN's stage-1 beta on dSprites.
    c.stage1 = stage1
    c.data = stage1.data.copy_and_resolve_references()  # dsprites, 32 px, batch 64
    c.model = dict(
        stage1_workdir=config_dict.placeholder(str),  # None: train config.stage1 in W/stage1
        posterior_bank=10_000,  # training images whose posteriors represent q(c)
        nuisance_dim=16,  # s ~ N(0, I_dim)
        g_features=32,  # DCGAN base width of G (32 px: 128-64-32 channels)
        d_features=32,  # DCGAN base width of D (no batch norm: R1)
        g_batch_norm=True,
        upsample="subpixel",
        ema_decay=0.99,  # generator EMA for sampling (0 disables)
    )
    c.losses = dict(
        generator="non_saturating",
        discriminator="non_saturating",
        penalty="r1",
        penalty_weight=10.0,  # gamma
        info_weight=1e-2,  # w_info
    )
    c.schedule = dict(d_steps=1, g_steps=1)
    c.optim = dict(generator=default.adam(2e-4, b1=0.5), discriminator=default.adam(2e-4, b1=0.5))
    c.train.num_steps = 3000
    c.train.log_every = 100
    c.train.checkpoint_every = 1000
    c.train.sample_every = 500
    c.eval.every = 0
    c.eval.metrics = ()  # mig etc. here would score the frozen stage-1 encoder (encode()).
    return c


def _dsprites64():
    c = _dsprites32()
    c.stage1 = betavae.get_config("idgan")
    c.data = c.stage1.data.copy_and_resolve_references()
    c.model.g_features = 64
    c.model.d_features = 64
    c.model.ema_decay = 0.999
    c.losses.info_weight = 1e-4
    c.optim = dict(generator=rmsprop(1e-4), discriminator=rmsprop(1e-4))
    c.train.num_steps = 300_000
    c.train.log_every = 1000
    c.train.checkpoint_every = 10_000
    c.train.sample_every = 10_000
    return c


def _celeba64():
    c = _dsprites64()
    c.stage1 = betavae.get_config("celeba64")
    c.data = c.stage1.data.copy_and_resolve_references()
    c.model.nuisance_dim = 256
    c.model.g_features = 64
    c.model.d_features = 64
    c.eval.every = 50_000
    c.eval.metrics = ("fid",)
    c.eval.num_samples = 10_000
    return c


def get_config(arg=None):
    return default.select_preset({"default": _dsprites32, "dsprites64": _dsprites64,
                                  "celeba64": _celeba64}, arg, "configs/idgan.py")()
