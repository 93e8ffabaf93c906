"""A 256-way softmax per sub-pixel, channel-autoregressive within a pixel (the "discrete
softmax" of PixelRNN/PixelCNN, van den Oord, Kalchbrenner, Kavukcuoglu 2016, Sec. 2.2 and 5.3).

For a pixel with C channels the network outputs base logits a_c in R^256 for every channel and
a coefficient vector b_(c',c) in R^256 for every pair c' < c; channel c's value has logits

    l_c = a_c + sum_{c' < c} b_(c',c) * x_c',      x_c' = x_c' / 127.5 - 1 (the drawn value),

    P(x) = prod_c softmax(l_c)[x_c].

A categorical puts mass on any subset of the 256 levels, so data that use few of them (e.g. the
17 grey levels of `digits`) cost nothing for the unused ones; the channel coupling is the
log-linear analogue of PixelCNN++'s channel-autoregressive means (pairs ordered as in
`autoregressive_channel_means`).
"""
import jax
import jax.numpy as jnp

from genmodels.distributions.logistic import (
    autoregressive_channel_means,
    bin_centres,
    num_channel_coeffs,
)

NUM_VALUES = 256


def num_categorical_outputs(channels: int) -> int:
    """256 (C + C (C - 1) / 2) outputs per pixel: 256 for greyscale, 1536 for RGB."""
    return NUM_VALUES * (channels + num_channel_coeffs(channels))


def categorical_channel_logits(out, x_signed):
    """Raw outputs [..., P] and the pixel's values x_signed [..., C] in [-1, 1] -> the logits
    l_c [..., C, 256] of every channel given the pixel's earlier channels."""
    c = x_signed.shape[-1]
    lead = out.shape[:-1]
    base, coeffs = jnp.split(out, [c * NUM_VALUES], axis=-1)
    return autoregressive_channel_means(
        x_signed, base.reshape(lead + (c, NUM_VALUES)),
        coeffs.reshape(lead + (num_channel_coeffs(c), NUM_VALUES)))


def categorical_pixel_log_prob(x_uint8, out):
    """ln P(x) of pixels x_uint8 [..., C] under raw outputs out [..., P]; returns [...]."""
    logits = categorical_channel_logits(out, bin_centres(x_uint8))
    log_p = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_p, x_uint8.astype(jnp.int32)[..., None], axis=-1)
    return picked[..., 0].sum(-1)


def categorical_pixel_sample(rng, out, channels: int):
    """An exact sample [..., C] uint8 of the pixel distribution: channels drawn in order, each
    from its logits given the channels already drawn."""
    keys = jax.random.split(rng, channels)
    x = jnp.zeros(out.shape[:-1] + (channels,), jnp.uint8)
    for c in range(channels):  # Channel c's logits depend on channels < c only.
        logits = categorical_channel_logits(out, bin_centres(x))[..., c, :]
        x = x.at[..., c].set(jax.random.categorical(keys[c], logits).astype(jnp.uint8))
    return x
