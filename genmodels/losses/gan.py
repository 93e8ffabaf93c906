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


@register("discriminator", "hinge")
def hinge_discriminator(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """E[max(0, 1 - l(x))] + E[max(0, 1 + l(G(z)))] (Lim & Ye 2017; SNGAN, Miyato et al. 2018)."""
    return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


@register("generator", "hinge")
@register("generator", "wasserstein")
def critic_generator(fake_logits: jax.Array) -> jax.Array:
    """-E[l(G(z))]: the generator side of both the hinge and the Wasserstein losses."""
    return -jnp.mean(fake_logits)


@register("discriminator", "wasserstein")
def wasserstein_discriminator(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """E[l(G(z))] - E[l(x)]: the critic's side of the Kantorovich-Rubinstein dual (Arjovsky et
    al. 2017); needs a Lipschitz constraint (weight clipping, a gradient penalty or spectral norm)."""
    return jnp.mean(fake_logits) - jnp.mean(real_logits)


@register("discriminator", "least_squares")
def least_squares_discriminator(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """1/2 E[(l(x) - 1)^2] + 1/2 E[l(G(z))^2] (LSGAN, Mao et al. 2017, targets a=0, b=1)."""
    return 0.5 * jnp.mean((real_logits - 1.0) ** 2) + 0.5 * jnp.mean(fake_logits ** 2)


@register("generator", "least_squares")
def least_squares_generator(fake_logits: jax.Array) -> jax.Array:
    """1/2 E[(l(G(z)) - 1)^2] (LSGAN, c=1)."""
    return 0.5 * jnp.mean((fake_logits - 1.0) ** 2)
