"""Log-densities and samplers (pure jnp functions)."""
from genmodels.distributions.bernoulli import bernoulli_log_prob, bernoulli_sample
from genmodels.distributions.categorical import (
    NUM_VALUES,
    categorical_channel_logits,
    categorical_pixel_log_prob,
    categorical_pixel_sample,
    num_categorical_outputs,
)
from genmodels.distributions.gaussian import (
    diag_gaussian_log_prob,
    diag_gaussian_sample,
    kl_diag_gaussian_standard,
)
from genmodels.distributions.importance import iwae_bound
from genmodels.distributions.logistic import (
    LOG_SCALE_MIN,
    autoregressive_channel_means,
    discretized_logistic_log_prob,
    discretized_logistic_mixture_log_prob,
    discretized_logistic_mixture_sample,
    discretized_logistic_sample,
    num_channel_coeffs,
)

__all__ = [
    "LOG_SCALE_MIN",
    "NUM_VALUES",
    "autoregressive_channel_means",
    "bernoulli_log_prob",
    "bernoulli_sample",
    "categorical_channel_logits",
    "categorical_pixel_log_prob",
    "categorical_pixel_sample",
    "diag_gaussian_log_prob",
    "diag_gaussian_sample",
    "discretized_logistic_log_prob",
    "discretized_logistic_mixture_log_prob",
    "discretized_logistic_mixture_sample",
    "discretized_logistic_sample",
    "iwae_bound",
    "kl_diag_gaussian_standard",
    "num_categorical_outputs",
    "num_channel_coeffs",
]
