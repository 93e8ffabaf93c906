"""Adversarial losses on discriminator logits (Goodfellow et al. 2014).

D(x) = sigmoid(l(x)). Discriminator losses map (real_logits, fake_logits) -> scalar; generator
losses map fake_logits -> scalar. All are written with log_sigmoid / softplus so they are stable
for any logit.
"""

import jax
import jax.numpy as jnp

from genmodels.losses.registry import register


@register("discriminator", "non_saturating")
@register("discriminator", "minimax")
def bce_discriminator(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """-E[ln D(x)] - E[ln(1 - D(G(z)))]: the binary cross-entropy of real vs fake."""
    return -jnp.mean(jax.nn.log_sigmoid(real_logits)) - jnp.mean(jax.nn.log_sigmoid(-fake_logits))


@register("generator", "non_saturating")
def non_saturating_generator(fake_logits: jax.Array) -> jax.Array:
    """-E[ln D(G(z))] (Goodfellow et al. 2014, §3): strong gradients when D rejects the fakes."""
    return -jnp.mean(jax.nn.log_sigmoid(fake_logits))


@register("generator", "minimax")
def minimax_generator(fake_logits: jax.Array) -> jax.Array:
    """E[ln(1 - D(G(z)))]: the generator's side of the original minimax game."""
    return jnp.mean(jax.nn.log_sigmoid(-fake_logits))


@register("generator", "log_ratio")
def log_ratio_generator(fake_logits: jax.Array) -> jax.Array:
    """-E[ln(D / (1 - D))] = -E[l(G(z))] (ADE, Lucas et al. 2019): estimates KL(p_model || p_data)."""
    return -jnp.mean(fake_logits)
