"""Adversarial autoencoder (Makhzani et al. 2016): an autoencoder whose code distribution is
matched to the prior p(z) = N(0, I) by an adversary on the code.

Players: "autoencoder" (deterministic encoder E and decoder) minimises
  ||x - dec(E(x))||^2 / 2 (per image, [-1, 1] units) + model.adv_weight * losses.generator(C(E(x)))
and the code critic "discriminator" minimises losses.discriminator(C(z ~ p), C(E(x))).
Samples decode z ~ p(z).
"""

import jax
import jax.numpy as jnp

from genmodels import losses, models
from genmodels.data import to_signed, to_uint8
from genmodels.losses.adversarial import discriminator_metrics
from genmodels.metrics.names import DISENTANGLEMENT_METRICS, RECONSTRUCTION_METRICS
from genmodels.methods.base import Method, Player
from genmodels.methods.optim import make_optimizer


# The config fields this method reads beyond the ones every config has (genmodels.config):
# methods.build refuses any other field, so a setting is never silently ignored.
CONFIG_FIELDS = ("model.adv_weight", "model.critic_hidden", "model.decoder_features", "model.dense",
                 "model.encoder_features", "model.latent_dim", "model.upsample",
                 "losses.discriminator", "losses.generator", "schedule.d_steps",
                 "optim.autoencoder", "optim.discriminator")


def build(config, info) -> Method:
    m = config.model
    if info.kind != "image":
        raise ValueError(f"The aae method needs an image dataset; data.name={info.name!r} is "
                         f"{info.kind}.")
    models.check_divisible(info.shape, len(m.encoder_features), "model.encoder_features")
    models.check_divisible(info.shape, len(m.decoder_features), "model.decoder_features")
    encoder = models.ConvEncoder(m.latent_dim, tuple(m.encoder_features), m.dense)
    decoder = models.ConvDecoder(tuple(info.shape), info.shape[-1], tuple(m.decoder_features),
                                 m.dense, m.upsample)
    critic = models.MLPDiscriminator(tuple(m.critic_hidden), maxout=1)
    d_loss = losses.get("discriminator", config.losses.discriminator, "losses.discriminator")
    g_loss = losses.get("generator", config.losses.generator, "losses.generator")

    def encode_signed(ae_params, x):
        return encoder.apply({"params": ae_params["encoder"]}, x, train=True)[0]

    def autoencoder_loss(params, collections, batch, rng):
        x = to_signed(batch["image"])
        z = encode_signed(params["autoencoder"], x)
        x_hat = decoder.apply({"params": params["autoencoder"]["decoder"]}, z, train=True)
        recon = 0.5 * jnp.mean(jnp.sum((x - x_hat) ** 2, axis=(1, 2, 3)))
        adversarial = g_loss(critic.apply({"params": params["discriminator"]}, z, train=True))
        loss = recon + m.adv_weight * adversarial
        return loss, ({"recon": recon, "adversarial": adversarial}, {})

    def discriminator_loss(params, collections, batch, rng):
        x = to_signed(batch["image"])
        fake = encode_signed(params["autoencoder"], x)
        real = jax.random.normal(rng, fake.shape)
        c = {"params": params["discriminator"]}
        real_logits = critic.apply(c, real, train=True)
        fake_logits = critic.apply(c, fake, train=True)
        metrics = discriminator_metrics(real_logits, fake_logits)
        return d_loss(real_logits, fake_logits), (metrics, {})

    def init(rng, batch):
        e_rng, d_rng, c_rng = jax.random.split(rng, 3)
        x = to_signed(batch["image"][:2])
        z = jnp.zeros((2, m.latent_dim))
        return {"autoencoder": {"params": {
                    "encoder": encoder.init(e_rng, x, train=False)["params"],
                    "decoder": decoder.init(d_rng, z, train=False)["params"]}},
                "discriminator": critic.init(c_rng, z, train=False)}

    def encode(variables, x_uint8):
        params = variables["autoencoder"]["params"]["encoder"]
        return encoder.apply({"params": params}, to_signed(x_uint8), train=False)[0]

    def decode(variables, z):
        params = variables["autoencoder"]["params"]["decoder"]
        return to_uint8(decoder.apply({"params": params}, z, train=False))

    def sample(variables, rng, n):
        return decode(variables, jax.random.normal(rng, (n, m.latent_dim)))

    def reconstruct(variables, x_uint8, rng=None):
        return decode(variables, encode(variables, x_uint8))

    return Method(
        name="aae",
        players=(Player("discriminator", discriminator_loss,
                        make_optimizer(config.optim.discriminator, "optim.discriminator")),
                 Player("autoencoder", autoencoder_loss,
                        make_optimizer(config.optim.autoencoder, "optim.autoencoder"))),
        schedule=(("discriminator", config.schedule.d_steps), ("autoencoder", 1)),
        init=init, sample=sample, encode=encode, decode=decode, reconstruct=reconstruct,
        latent_dim=m.latent_dim, metrics=RECONSTRUCTION_METRICS + DISENTANGLEMENT_METRICS)
