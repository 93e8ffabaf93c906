"""Importance-weighted bound (Burda et al. 2016) for every latent-variable model's bpd.

  ln p(x) >= L_k(x) = E[ ln (1/k) sum_j p(x, z_j) / q(z_j | x) ],  z_j ~ q(z | x)
L_1 is the ELBO, L_k grows with k and tends to ln p(x).
"""

import math

import jax


def iwae_bound(log_weights: jax.Array) -> jax.Array:
    """log_weights [k, ...] = ln p(x, z_j) - ln q(z_j | x) -> L_k [...] (ln-mean-exp over k)."""
    return jax.nn.logsumexp(log_weights, axis=0) - math.log(log_weights.shape[0])
