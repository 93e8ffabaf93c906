"""ALI / BiGAN (Dumoulin et al. 2017; Donahue et al. 2017): adversarial inference.

A generator G: z -> x and an encoder E: x -> z (Gaussian, reparameterised) are one player; a
joint discriminator D(x, z) is the other. D separates data pairs (x, E(x)) from model pairs
(G(z), z) with losses.discriminator; G and E minimise the same loss with the roles of the two
pairs swapped (the non-saturating form ALI uses). At the optimum the two joint distributions
match, so E inverts G; reconstructions are G(E(x)).
"""

import jax
import jax.numpy as jnp

from genmodels import distributions as dist
from genmodels import losses, models
from genmodels.metrics.names import DISENTANGLEMENT_METRICS, RECONSTRUCTION_METRICS
from genmodels.methods.base import Method
from genmodels.losses.adversarial import discriminator_metrics
from genmodels.methods.adversarial import (adversarial_method, apply_module, build_generator, data_key,
                                   to_data_space, to_model_space)


# The config fields this method reads beyond the ones every config has (genmodels.config):
# methods.build refuses any other field, so a setting is never silently ignored. model.init and
# model.bn_* reach the MLP generator only (build_generator), not the encoder nor D(x, z).
CONFIG_FIELDS = ("model.arch", "model.base_features", "model.d_hidden", "model.encoder_dense",
                 "model.encoder_features", "model.g_hidden", "model.joint_hidden",
                 "model.latent_dim", "model.maxout", "model.upsample", "model.use_batch_norm",
                 "model.init", "model.bn_epsilon", "model.bn_momentum", "losses.discriminator",
                 "schedule.d_steps", "schedule.g_steps", "optim.generator", "optim.discriminator")


def build_encoder_and_critic(config, info):
    m = config.model
    if info.kind == "points":
        return (models.MLPEncoder(m.latent_dim, tuple(m.g_hidden[:2])),
                models.JointMLPDiscriminator(tuple(m.d_hidden), m.maxout))
    models.check_divisible(info.shape, len(m.encoder_features), "model.encoder_features")
    return (models.ConvEncoder(m.latent_dim, tuple(m.encoder_features), m.encoder_dense),
            models.JointConvDiscriminator(tuple(m.encoder_features), m.joint_hidden))


def build(config, info) -> Method:
    m = config.model
    if m.arch not in ("dcgan", "mlp"):
        raise ValueError(f"model.arch={m.arch!r}: ali has a joint discriminator for the dcgan "
                         "and mlp architectures only; valid: dcgan, mlp.")
    generator = build_generator(config, info)
    encoder, critic = build_encoder_and_critic(config, info)
    d_loss = losses.get("discriminator", config.losses.discriminator, "losses.discriminator")
    key = data_key(info)

    def real_data(batch):
        return to_model_space(batch[key], info)

    def pair_logits(params, collections, batch, rng):
        """Logits of (x, E(x)) and (G(z), z), and G's updated collections."""
        e_rng, z_rng = jax.random.split(rng)
        gen = params["generator"]
        x = real_data(batch)
        mean, log_scale = encoder.apply({"params": gen["encoder"]}, x, train=True)
        z_hat = dist.diag_gaussian_sample(e_rng, mean, log_scale)
        z = jax.random.normal(z_rng, (x.shape[0], m.latent_dim))
        x_hat, g_colls = apply_module(generator, gen["decoder"], collections["generator"], z,
                                      train=True)
        d = {"params": params["discriminator"]}
        return critic.apply(d, x, z_hat, train=True), critic.apply(d, x_hat, z, train=True), g_colls

    def discriminator_loss(params, collections, batch, rng):
        data_logits, model_logits, _ = pair_logits(params, collections, batch, rng)
        metrics = discriminator_metrics(data_logits, model_logits)
        return d_loss(data_logits, model_logits), (metrics, {})

    def generator_loss(params, collections, batch, rng):
        data_logits, model_logits, g_colls = pair_logits(params, collections, batch, rng)
        return d_loss(model_logits, data_logits), ({}, {"generator": g_colls})

    def init(rng, batch):
        g_rng, e_rng, d_rng = jax.random.split(rng, 3)
        x = real_data(batch)[:2]
        z = jnp.zeros((2, m.latent_dim))
        g_vars = generator.init(g_rng, z, train=False)
        params = {"decoder": g_vars["params"],
                  "encoder": encoder.init(e_rng, x, train=False)["params"]}
        return {"generator": {**g_vars, "params": params},
                "discriminator": critic.init(d_rng, x, z, train=False)}

    def decode_signed(variables, z):
        g = variables["generator"]
        colls = {k: v for k, v in g.items() if k != "params"}
        return generator.apply({"params": g["params"]["decoder"], **colls}, z, train=False)

    def encode(variables, x):
        params = variables["generator"]["params"]["encoder"]
        return encoder.apply({"params": params}, to_model_space(x, info), train=False)[0]

    def decode(variables, z):
        return to_data_space(decode_signed(variables, z), info)

    def sample(variables, rng, n):
        return decode(variables, jax.random.normal(rng, (n, m.latent_dim)))

    def reconstruct(variables, x, rng=None):
        return decode(variables, encode(variables, x))

    return adversarial_method(
        "ali", config, discriminator_loss, generator_loss,
        init=init, sample=sample, encode=encode, decode=decode, reconstruct=reconstruct,
        latent_dim=m.latent_dim, metrics=(("modes",) if info.modes is not None else ())
        + RECONSTRUCTION_METRICS + DISENTANGLEMENT_METRICS)
