"""Likelihood terms shared by latent-variable methods (pure functions of per-example arrays)."""

import jax.numpy as jnp

from genmodels.distributions import diag_gaussian_log_prob


def feature_space_elbo(features, log_det, mean, log_scale, kl):
    """ELBO of x with a Gaussian likelihood in the feature space of an invertible f_psi (ADE,
    Lucas et al. 2019, the negative of L_C):

      ln p(x) >= E_q(z|x)[ ln N(f_psi(x); mu_theta(z), diag sigma^2) ] + ln|det df_psi/dx|
                 - KL(q(z|x) || p(z))

    features, mean, log_scale: [B, ...] (f_psi(x), mu_theta(z) and ln sigma, broadcastable);
    log_det, kl: [B]. Returns the per-example bound [B] (one sample of z) in nats.
    """
    axes = tuple(range(1, features.ndim))
    log_lik = jnp.sum(diag_gaussian_log_prob(features, mean, log_scale), axis=axes)
    return log_lik + log_det - kl
