"""Adversarial autoencoder (Makhzani et al. 2016): autoencoder + adversary on the code.

Presets: default (digits).
"""

from configs import default


def _digits():
    c = default.base_config()
    c.method = "aae"
    c.data.name = "digits"
    c.model = dict(latent_dim=8, encoder_features=(32, 64), decoder_features=(64, 32), dense=256,
                   upsample="subpixel", critic_hidden=(256, 256), adv_weight=1.0)
    c.losses = dict(discriminator="non_saturating", generator="non_saturating")
    c.schedule = dict(d_steps=1)
    c.optim = dict(autoencoder=default.adam(1e-3), discriminator=default.adam(1e-4, b1=0.5))
    c.train.num_steps = 3000
    c.train.checkpoint_every = 1000
    c.train.sample_every = 1000
    c.eval.every = 0
    c.eval.metrics = ()
    return c


def get_config(arg=None):
    return default.select_preset({"default": _digits}, arg, "configs/aae.py")()
