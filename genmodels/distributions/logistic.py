"""Discretised logistic likelihood on 8-bit data (PixelCNN++, Salimans et al. 2017).

The 256 values x in {0, ..., 255} map to bin centres c(x) = x / 127.5 - 1 in [-1, 1]; bin x is
[c - 1/255, c + 1/255], except that the edge bins take the tails: bin 0 is (-inf, -1 + 1/255] and
bin 255 is [1 - 1/255, inf). With a logistic of location `mean` and scale s = exp(log_scale):

    P(x) = sigmoid((c + 1/255 - mean) / s) - sigmoid((c - 1/255 - mean) / s)

(the first term replaced by 1 for x = 255, the second by 0 for x = 0). As in PixelCNN++,
log_scale is clamped from below at LOG_SCALE_MIN = -7 (in log-prob and samplers alike), which
bounds the density and keeps gradients finite.

Stability: PixelCNN++ subtracts the two sigmoids and falls back to log pdf(c) + log(2/255) when the
difference underflows. Here the bin mass is evaluated exactly in log space instead, using
sigmoid(a) - sigmoid(b) = sigmoid(a) * sigmoid(-b) * (1 - exp(b - a)) for a > b:

    log P(x) = log_sigmoid(a) + log_sigmoid(-b) + log(-expm1(-(a - b))),  a - b = 2 / (255 s),

which is finite and accurate for any mean and log_scale (up to s ~ 1e30), needs no branch, and
agrees with the PixelCNN++ formula wherever the latter is accurate.

RGB pixels: with `coeffs`, the mixture functions model the C channels of a pixel jointly, with
one mixture component per pixel and channel-autoregressive means (PixelCNN++ section 2.2).
"""
import jax
import jax.numpy as jnp

LOG_SCALE_MIN = -7.0
_HALF_BIN = 1.0 / 255.0


def bin_centres(x_uint8):
    """uint8 values x -> their bin centres x / 127.5 - 1 in [-1, 1] (float32)."""
    return x_uint8.astype(jnp.float32) / 127.5 - 1.0


def discretized_logistic_log_prob(x_uint8, mean, log_scale):
    """log P(x) of 8-bit values under a discretised logistic (module docstring), elementwise.

    x_uint8: integer values in [0, 255]; mean, log_scale: in [-1, 1] data space, broadcastable.
    """
    log_scale = jnp.maximum(log_scale, LOG_SCALE_MIN)
    inv_scale = jnp.exp(-log_scale)
    centred = bin_centres(x_uint8) - mean
    upper = inv_scale * (centred + _HALF_BIN)  # a
    lower = inv_scale * (centred - _HALF_BIN)  # b
    log_cdf_upper = jax.nn.log_sigmoid(upper)  # log P(X <= c + 1/255)
    log_sf_lower = jax.nn.log_sigmoid(-lower)  # log P(X >= c - 1/255)
    log_width = jnp.log(-jnp.expm1(-2.0 * _HALF_BIN * inv_scale))
    interior = log_cdf_upper + log_sf_lower + log_width
    return jnp.where(x_uint8 == 0, log_cdf_upper, jnp.where(x_uint8 == 255, log_sf_lower, interior))


def autoregressive_channel_means(x_signed, means, coeffs):
    """Channel-autoregressive means of PixelCNN++ (Salimans et al. 2017, eq. 3 for RGB):

      mu_R = m_R,  mu_G = m_G + a x_R,  mu_B = m_B + b x_R + c x_G

    and for C channels mu_c = m_c + sum_{c' < c} coeffs[pair(c', c)] x_c', pairs in the order
    (0,1), (0,2), (1,2), (0,3), ... (column by column). x_signed [..., C] (values in [-1, 1],
    e.g. bin centres), means [..., C, K], coeffs [..., C (C - 1) / 2, K] (already squashed, e.g.
    by tanh). Returns [..., C, K].
    """
    c = means.shape[-2]
    out, pair = [means[..., 0, :]], 0
    for target in range(1, c):
        mu = means[..., target, :]
        for source in range(target):
            mu = mu + coeffs[..., pair, :] * x_signed[..., source, None]
            pair += 1
        out.append(mu)
    shape = jnp.broadcast_shapes(*(o.shape for o in out))
    return jnp.stack([jnp.broadcast_to(o, shape) for o in out], axis=-2)


def num_channel_coeffs(channels: int) -> int:
    """C (C - 1) / 2 autoregressive coefficients per mixture component (3 for RGB)."""
    return channels * (channels - 1) // 2


def discretized_logistic_mixture_log_prob(x_uint8, logit_probs, means, log_scales, coeffs=None):
    """log sum_k softmax(logit_probs)_k P_k(x), P_k the discretised logistic of component k.

    coeffs None: the mixture axis is last: logit_probs, means, log_scales have shape
    x.shape + (K,) (or broadcast to it); every element of x (every channel) has its own
    independent mixture. Returns shape x.shape.

    coeffs given (PixelCNN++'s joint pixel likelihood): the last axis of x holds the C channels
    of a pixel, which share one mixture component,
      P(x) = sum_k pi_k prod_c P(x_c; mu_ck(x_<c), s_ck),
    with mu from `autoregressive_channel_means` on the bin centres of x. logit_probs
    [..., K], means and log_scales [..., C, K], coeffs [..., C (C - 1) / 2, K].
    Returns shape x.shape[:-1].
    """
    if coeffs is None:
        component = discretized_logistic_log_prob(x_uint8[..., None], means, log_scales)
        return jax.nn.logsumexp(jax.nn.log_softmax(logit_probs, axis=-1) + component, axis=-1)
    means = autoregressive_channel_means(bin_centres(x_uint8), means, coeffs)
    component = discretized_logistic_log_prob(x_uint8[..., None], means, log_scales).sum(-2)
    return jax.nn.logsumexp(jax.nn.log_softmax(logit_probs, axis=-1) + component, axis=-1)


def discretized_logistic_sample(rng, mean, log_scale):
    """uint8: y = mean + s * logistic noise, then the bin containing y (clipped to [-1, 1])."""
    log_scale = jnp.maximum(log_scale, LOG_SCALE_MIN)
    shape = jnp.broadcast_shapes(jnp.shape(mean), jnp.shape(log_scale))
    y = mean + jnp.exp(log_scale) * jax.random.logistic(rng, shape)
    return jnp.clip(jnp.round((y + 1.0) * 127.5), 0, 255).astype(jnp.uint8)


def discretized_logistic_mixture_sample(rng, logit_probs, means, log_scales, coeffs=None):
    """uint8 sample of the mixture: pick k ~ softmax(logit_probs), then sample component k.

    coeffs None (mixture axis last, independent mixtures): returns shape
    broadcast(logit_probs, means, log_scales).shape[:-1].
    coeffs given (shapes as in `discretized_logistic_mixture_log_prob`): one k per pixel, then
    the channels in order, channel c with the mean mu_ck(x_<c) of the already drawn channels'
    bin centres, which is an exact sample of the joint pixel likelihood. Returns [..., C].
    """
    rng_k, rng_x = jax.random.split(rng)
    if coeffs is not None:
        return _joint_pixel_sample(rng_k, rng_x, logit_probs, means, log_scales, coeffs)
    shape = jnp.broadcast_shapes(jnp.shape(logit_probs), jnp.shape(means), jnp.shape(log_scales))
    k = jax.random.categorical(rng_k, jnp.broadcast_to(logit_probs, shape), axis=-1)[..., None]
    mean = jnp.take_along_axis(jnp.broadcast_to(means, shape), k, axis=-1)[..., 0]
    log_scale = jnp.take_along_axis(jnp.broadcast_to(log_scales, shape), k, axis=-1)[..., 0]
    return discretized_logistic_sample(rng_x, mean, log_scale)


def _joint_pixel_sample(rng_k, rng_x, logit_probs, means, log_scales, coeffs):
    """The coeffs branch of `discretized_logistic_mixture_sample`."""
    c = means.shape[-2]
    shape = jnp.broadcast_shapes(means.shape, log_scales.shape, logit_probs[..., None, :].shape)
    means, log_scales = jnp.broadcast_to(means, shape), jnp.broadcast_to(log_scales, shape)
    coeffs = jnp.broadcast_to(coeffs, shape[:-2] + coeffs.shape[-2:])
    k = jax.random.categorical(rng_k, jnp.broadcast_to(logit_probs, shape[:-2] + shape[-1:]))

    def pick(a):  # [..., K] -> [...] at the chosen component.
        return jnp.take_along_axis(a, k[..., None], axis=-1)[..., 0]

    keys = jax.random.split(rng_x, c)
    drawn, pair = [], 0
    for target in range(c):
        mean = pick(means[..., target, :])
        for source in range(target):
            mean = mean + pick(coeffs[..., pair, :]) * bin_centres(drawn[source])
            pair += 1
        drawn.append(discretized_logistic_sample(keys[target], mean,
                                                 pick(log_scales[..., target, :])))
    return jnp.stack(drawn, axis=-1)
