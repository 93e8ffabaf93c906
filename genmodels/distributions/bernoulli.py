"""Bernoulli distribution parameterised by logits (elementwise)."""
import jax
import jax.numpy as jnp


def bernoulli_log_prob(x, logits):
    """x log sigmoid(l) + (1 - x) log sigmoid(-l) = x l - softplus(l), for x in [0, 1].

    Equals minus the binary cross-entropy with logits; stable for any logit. Non-binary x in
    [0, 1] (e.g. grey levels) gives the usual "continuous" cross-entropy.
    """
    return x * logits - jax.nn.softplus(logits)


def bernoulli_sample(rng, logits):
    """{0, 1} samples with P(1) = sigmoid(logits), in the logits' dtype."""
    return jax.random.bernoulli(rng, jax.nn.sigmoid(logits)).astype(jnp.result_type(logits))
