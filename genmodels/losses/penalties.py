"""Discriminator regularisers on input gradients, registered as kind "penalty".

A penalty is penalty(d_fn, real, fake, rng) -> scalar, where d_fn maps a batch of inputs to
logits [B] with the discriminator's params fixed in; the method adds weight * penalty to the
discriminator loss (config losses.penalty, losses.penalty_weight). Gradients are of sum_i l(x_i),
which is the per-example input gradient when the discriminator treats examples independently.
"""

import jax
import jax.numpy as jnp

from genmodels.losses.registry import register


def _input_grad_sq_norms(d_fn, x) -> jax.Array:
    """||d l(x_i) / d x_i||^2 for every example i."""
    grads = jax.grad(lambda v: jnp.sum(d_fn(v)))(x)
    return jnp.sum(jnp.reshape(grads, (grads.shape[0], -1)) ** 2, axis=-1)


def _batch_uniform(rng, x) -> jax.Array:
    """One U[0, 1) draw per example, broadcastable against x."""
    return jax.random.uniform(rng, (x.shape[0],) + (1,) * (x.ndim - 1))


@register("penalty", "none")
def no_penalty(d_fn, real, fake, rng) -> jax.Array:
    del d_fn, real, fake, rng
    return jnp.zeros(())


@register("penalty", "wgan_gp")
def wgan_gp(d_fn, real, fake, rng) -> jax.Array:
    """E[(||grad l(x_hat)|| - 1)^2], x_hat = e x + (1 - e) G(z), e ~ U[0, 1] (Gulrajani et al.
    2017, eq. 3; the paper's weight is lambda = 10)."""
    eps = _batch_uniform(rng, real)
    x_hat = eps * real + (1.0 - eps) * fake
    return jnp.mean((jnp.sqrt(_input_grad_sq_norms(d_fn, x_hat) + 1e-12) - 1.0) ** 2)


@register("penalty", "r1")
def r1(d_fn, real, fake, rng) -> jax.Array:
    """1/2 E_data[||grad l(x)||^2] (Mescheder et al. 2018, eq. 9): weight = gamma."""
    del fake, rng
    return 0.5 * jnp.mean(_input_grad_sq_norms(d_fn, real))


@register("penalty", "r2")
def r2(d_fn, real, fake, rng) -> jax.Array:
    """1/2 E_model[||grad l(G(z))||^2] (Mescheder et al. 2018, eq. 10): weight = gamma."""
    del real, rng
    return 0.5 * jnp.mean(_input_grad_sq_norms(d_fn, fake))


@register("penalty", "dragan")
def dragan(d_fn, real, fake, rng) -> jax.Array:
    """E[(||grad l(x + delta)|| - 1)^2], delta = 0.5 * std(x) * U[0, 1) per coordinate (Kodali et
    al. 2017, the authors' reference perturbation; weight lambda = 10)."""
    del fake
    delta = 0.5 * jnp.std(real) * jax.random.uniform(rng, real.shape)
    return jnp.mean((jnp.sqrt(_input_grad_sq_norms(d_fn, real + delta) + 1e-12) - 1.0) ** 2)
