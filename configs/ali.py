"""ALI / BiGAN: generator, encoder and a joint discriminator D(x, z).

Presets: default (digits), ring8, grid25 (the 2-D mixture protocol architecture, for the mode
coverage comparison of REFERENCES.md).
"""

from configs import default, gan


def _from_gan(preset=None):
    """configs/gan.py's preset without the fields ALI does not read (G's and D's options that
    its joint discriminator has no use for, the penalty, clipping, generator EMA and
    simultaneous updates)."""
    c = gan.get_config(preset)
    c.method = "ali"
    for name in gan.GAN_ONLY_FIELDS + ("ema_decay", "ema_batch_stats"):
        del c.model[name]
    c.losses = dict(discriminator=c.losses.discriminator)  # G minimises the swapped D loss.
    del c.schedule["simultaneous"]  # ALI's players alternate.
    return c


def _digits():
    c = _from_gan()
    c.model.latent_dim = 16
    c.model.encoder_features = (64, 128)
    c.model.encoder_dense = 256
    c.model.joint_hidden = 512
    return c


def _mixture(name):
    c = _from_gan(f"{name}_plain")  # The protocol's nets with the plain training settings.
    c.model.encoder_features = ()  # Unused on points: the encoder is an MLP.
    c.model.encoder_dense = 0
    c.model.joint_hidden = 0
    return c


def get_config(arg=None):
    return default.select_preset({"default": _digits, "ring8": lambda: _mixture("ring8"),
                                  "grid25": lambda: _mixture("grid25")}, arg, "configs/ali.py")()
