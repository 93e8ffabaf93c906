"""The discriminator's objective, shared by every adversarial method (gan, hybrid, idgan, ali,
aae): one composition of loss, gradient penalty and metrics, one naming of the metrics."""

import jax
import jax.numpy as jnp


def discriminator_metrics(real_logits, fake_logits, penalty=None) -> dict:
    """d_real / d_fake: mean D(x) = sigmoid(logit) on real and generated inputs (the GAN
    family's one naming); penalty: the gradient penalty's value where there is one."""
    metrics = {"d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
               "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits))}
    if penalty is not None:
        metrics["penalty"] = penalty
    return metrics


def discriminator_objective(discriminate, real, fake, collections, rng, *, loss, penalty,
                            penalty_weight: float):
    """L_D = loss(D(x), D(x~)) + w R(D; x, x~) (Goodfellow et al. 2014, with a gradient penalty
    R from genmodels.losses.penalties), with no gradient into the generator's x~.

    discriminate(x, collections) -> (logits, updated collections) threads D's mutable state
    (batch statistics, spectral-norm vectors) through the real then the fake pass; the penalty
    sees D with the updated state. Returns (loss, metrics, updated collections)."""
    fake = jax.lax.stop_gradient(fake)
    real_logits, collections = discriminate(real, collections)
    fake_logits, collections = discriminate(fake, collections)
    reg = penalty(lambda x: discriminate(x, collections)[0], real, fake, rng)
    metrics = discriminator_metrics(real_logits, fake_logits, reg)
    return loss(real_logits, fake_logits) + penalty_weight * reg, metrics, collections
