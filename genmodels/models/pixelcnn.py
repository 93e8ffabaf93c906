"""PixelCNN++ (Salimans, Karpathy, Chen, Kingma 2017): network, likelihood and sampler.

  ln p(x) = sum_i ln p(x_i | x_<i),  i over pixels in raster order, all channels of a pixel
modelled jointly, by `likelihood`: "logistic_mixture" (PixelCNN++'s discretised logistic mixture
with channel-autoregressive means) or "categorical" (a 256-way softmax per channel, PixelCNN's;
`distributions.categorical`).

Network: a "down" stream u (sees the rows above) and a "down-right" stream ul (sees the rows above
and the pixels to the left), `num_stages` resolutions (stride-2 shifted convs down, shifted
transposed convs back up, U-Net style skips from the up pass into the down pass), gated residual
blocks with concat_elu. Departures from the paper: plain convolutions (no weight normalisation /
data-dependent init), and the conditioning feature map is average-pooled to each stage's
resolution before its 1x1 projection in every block.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from genmodels import distributions as dist
from genmodels.nn.masked import ShiftedConv, ShiftedConvTranspose, down_shift, right_shift

DOWN, DOWN_RIGHT = (2, 3), (2, 2)  # PixelCNN++ kernel sizes of the two streams.
LIKELIHOODS = ("logistic_mixture", "categorical")


def concat_elu(x):
    """elu([x, -x]) along channels (PixelCNN++): keeps both signs' information."""
    return nn.elu(jnp.concatenate([x, -x], axis=-1))


def check_likelihood(likelihood: str, field: str = "model.likelihood") -> None:
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"Unknown {field}={likelihood!r}; valid: {', '.join(LIKELIHOODS)}.")


def num_outputs(channels: int, num_mixtures: int, likelihood: str = "logistic_mixture") -> int:
    """Outputs per pixel. logistic_mixture: K logits + K (means, log-scales) per channel + K
    C(C-1)/2 coeffs (10 K for RGB, 3 K for greyscale); categorical: 256 (C + C(C-1)/2)."""
    check_likelihood(likelihood)
    if likelihood == "categorical":
        return dist.num_categorical_outputs(channels)
    return num_mixtures * (1 + 2 * channels + dist.num_channel_coeffs(channels))


def downsampling_factor(num_stages: int) -> int:
    """2^(num_stages - 1): the network's total downsampling, which H and W must be multiples of."""
    return 2 ** (num_stages - 1)


def check_stages(image_shape, num_stages: int, field: str = "model.num_stages") -> None:
    """ValueError unless H and W are divisible by 2^(num_stages - 1)."""
    if not isinstance(num_stages, int) or num_stages < 1:
        raise ValueError(f"{field}={num_stages!r} must be an integer >= 1.")
    factor = downsampling_factor(num_stages)
    h, w = image_shape[0], image_shape[1]
    if h % factor or w % factor:
        raise ValueError(f"image {h}x{w} is not divisible by 2^({field} - 1) = {factor}; use "
                         "fewer stages or change data.image_size.")


class GatedResnet(nn.Module):
    """x + a * sigmoid(b), [a, b] = conv(dropout(concat_elu(conv(concat_elu(x)) + nin(skip))))
    + projections of the conditioning map / vector (PixelCNN++ gated_resnet; conditional
    PixelCNN, van den Oord et al. 2016)."""

    right: bool
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x, skip=None, cond_map=None, cond_vec=None, train: bool = False):
        f = x.shape[-1]
        kernel = DOWN_RIGHT if self.right else DOWN
        h = ShiftedConv(f, kernel, self.right, name="conv_in")(concat_elu(x))
        if skip is not None:
            h = h + nn.Dense(f, name="skip")(concat_elu(skip))
        h = concat_elu(h)
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        small = nn.initializers.variance_scaling(0.1, "fan_avg", "uniform")
        h = ShiftedConv(2 * f, kernel, self.right, kernel_init=small, name="conv_out")(h)
        # Zero-initialised conditioning: the network starts as the unconditional PixelCNN, so
        # an untrained encoder's noisy code does not swamp conv_out's small initial output.
        zeros = nn.initializers.zeros
        if cond_map is not None:
            h = h + nn.Dense(2 * f, use_bias=False, kernel_init=zeros, name="cond_map")(cond_map)
        if cond_vec is not None:
            h = h + nn.Dense(2 * f, use_bias=False, kernel_init=zeros,
                             name="cond_vec")(cond_vec)[:, None, None]
        a, b = jnp.split(h, 2, axis=-1)
        return x + a * jax.nn.sigmoid(b)


def _pool(cond_map, stage: int):
    """The conditioning map at stage `stage` (resolution / 2^stage), by average pooling."""
    if cond_map is None or stage == 0:
        return cond_map
    window = (2**stage, 2**stage)
    return nn.avg_pool(cond_map, window, window)


class PixelCNNPP(nn.Module):
    """x [B, H, W, C] in [-1, 1] -> likelihood parameters [B, H, W, num_outputs(C, K, lik.)].

    Output (r, c) depends only on pixels before (r, c) in raster order (all their channels).
    cond_map [B, H, W, F] (added in every gated block, pooled to each stage's resolution) and
    cond_vec [B, F'] are optional conditioning inputs.
    """

    features: int = 160
    blocks_per_stage: int = 5
    num_stages: int = 3
    num_mixtures: int = 10
    dropout: float = 0.5
    likelihood: str = "logistic_mixture"

    @nn.compact
    def __call__(self, x, cond_map=None, cond_vec=None, train: bool = False):
        check_stages(x.shape[1:], self.num_stages)
        f, n = self.features, self.blocks_per_stage
        x = jnp.concatenate([x, jnp.ones_like(x[..., :1])], axis=-1)  # Marks the padding.
        u = down_shift(ShiftedConv(f, DOWN, name="u_in")(x))
        ul = (down_shift(ShiftedConv(f, (1, 3), name="ul_in_up")(x))
              + right_shift(ShiftedConv(f, (2, 1), right=True, name="ul_in_left")(x)))
        us, uls = [u], [ul]

        def block(right, name):
            return GatedResnet(right, self.dropout, name=name)

        for s in range(self.num_stages):  # Up pass (decreasing resolution).
            cm = _pool(cond_map, s)
            if s > 0:
                us.append(ShiftedConv(f, DOWN, strides=2, name=f"u_down_{s}")(us[-1]))
                uls.append(ShiftedConv(f, DOWN_RIGHT, True, 2, name=f"ul_down_{s}")(uls[-1]))
            for i in range(n):
                us.append(block(False, f"up_u_{s}_{i}")(us[-1], None, cm, cond_vec, train))
                uls.append(block(True, f"up_ul_{s}_{i}")(uls[-1], us[-1], cm, cond_vec, train))
        u, ul = us.pop(), uls.pop()
        for s in reversed(range(self.num_stages)):  # Down pass, consuming the skips.
            cm = _pool(cond_map, s)
            for i in range(n + (s < self.num_stages - 1)):
                u = block(False, f"down_u_{s}_{i}")(u, us.pop(), cm, cond_vec, train)
                ul = block(True, f"down_ul_{s}_{i}")(
                    ul, jnp.concatenate([u, uls.pop()], -1), cm, cond_vec, train)
            if s > 0:
                u = ShiftedConvTranspose(f, DOWN, name=f"u_up_{s}")(u)
                ul = ShiftedConvTranspose(f, DOWN_RIGHT, True, name=f"ul_up_{s}")(ul)
        assert not us and not uls
        out = num_outputs(x.shape[-1] - 1, self.num_mixtures, self.likelihood)
        return nn.Dense(out, name="out")(nn.elu(ul))


def mixture_params(out, channels: int, num_mixtures: int):
    """Raw outputs [..., P] -> (logits [..., K], means [..., C, K], log_scales [..., C, K],
    coeffs [..., C (C - 1) / 2, K]); coeffs are squashed by tanh as in PixelCNN++."""
    k, c, pairs = num_mixtures, channels, dist.num_channel_coeffs(channels)
    logits, means, log_scales, coeffs = jnp.split(
        out, [k, k + c * k, k + 2 * c * k], axis=-1)
    lead = out.shape[:-1]
    return (logits, means.reshape(lead + (c, k)), log_scales.reshape(lead + (c, k)),
            jnp.tanh(coeffs.reshape(lead + (pairs, k))))


def conditional_params(out, x_signed, num_mixtures: int, likelihood: str = "logistic_mixture"):
    """Per-channel likelihood parameters of p(x_ic | x_<(i,c)): (logits broadcast to
    [..., C, K], means mu_ck(x_i,<c) [..., C, K], log_scales [..., C, K]) for the mixture,
    (logits l_c [..., C, 256],) for the categorical. These are what the causality test
    differentiates: (i, c) may depend on earlier pixels and earlier channels of pixel i only."""
    if likelihood == "categorical":
        return (dist.categorical_channel_logits(out, x_signed),)
    c = x_signed.shape[-1]
    logits, means, log_scales, coeffs = mixture_params(out, c, num_mixtures)
    means = dist.autoregressive_channel_means(x_signed, means, coeffs)
    return jnp.broadcast_to(logits[..., None, :], means.shape), means, log_scales


def pixel_log_prob(out, x_uint8, num_mixtures: int, likelihood: str = "logistic_mixture"):
    """ln p(x_i | x_<i) of every pixel [..., H, W] (all its channels jointly)."""
    if likelihood == "categorical":
        return dist.categorical_pixel_log_prob(x_uint8, out)
    logits, means, log_scales, coeffs = mixture_params(out, x_uint8.shape[-1], num_mixtures)
    return dist.discretized_logistic_mixture_log_prob(x_uint8, logits, means, log_scales, coeffs)


def log_prob(out, x_uint8, num_mixtures: int, likelihood: str = "logistic_mixture"):
    """ln p(x) = sum over pixels of the joint pixel log-likelihood, per image [B]."""
    return jnp.sum(pixel_log_prob(out, x_uint8, num_mixtures, likelihood), axis=(1, 2))


def sample_pixel(rng, out, channels: int, num_mixtures: int,
                 likelihood: str = "logistic_mixture"):
    """An exact draw [..., C] uint8 of the pixel distribution with raw outputs out [..., P]."""
    if likelihood == "categorical":
        return dist.categorical_pixel_sample(rng, out, channels)
    logits, means, log_scales, coeffs = mixture_params(out, channels, num_mixtures)
    return dist.discretized_logistic_mixture_sample(rng, logits, means, log_scales, coeffs)


ROW_BLOCKS = 4  # Default row blocks of `sample`; 1 is one full-image pass per pixel.


def row_block_ends(height: int, row_blocks: int, row_multiple: int = 1) -> tuple[int, ...]:
    """The last row (exclusive) of each of `sample`'s row blocks: about height / row_blocks rows
    each, every end a multiple of `row_multiple`; fewer blocks if the image has too few rows.
    E.g. (32, 4, 4) -> (8, 16, 24, 32), (8, 4, 2) -> (2, 4, 6, 8), (8, 1, 2) -> (8,)."""
    if row_blocks < 1 or row_multiple < 1 or height % row_multiple:
        raise ValueError(f"row_blocks={row_blocks} and row_multiple={row_multiple} must be >= 1 "
                         f"and row_multiple must divide the image height {height}.")
    units = height // row_multiple
    blocks = min(row_blocks, units)
    return tuple(row_multiple * (units * (b + 1) // blocks) for b in range(blocks))


def sample(apply_fn, rng, n: int, image_shape, num_mixtures: int, cond_map=None,
           row_blocks: int = ROW_BLOCKS, row_multiple: int = 1,
           likelihood: str = "logistic_mixture"):
    """Ancestral sampling, jit-friendly: a `lax.fori_loop` over the H W pixels, one network pass
    `apply_fn(x_signed [n, h, W, C], cond_map [n, h, W, F] or None) -> [n, h, W, P]` per pixel,
    all channels of the pixel drawn from that pass (`sample_pixel`, channel by channel). The
    noise of pixel i is fold_in(rng, i), so two calls with the same rng share their sampling
    noise (same uniforms; different conditioning gives a coupled sample). Returns uint8
    [n, H, W, C].

    The network is causal in rows (output row r depends on input rows <= r only), so the rows are
    split into `row_blocks` static blocks (`row_block_ends`) and a pixel of the block ending at
    row h is drawn from a pass over the top h rows only (image and `cond_map` cropped): the same
    conditionals as row_blocks=1 (full passes) in about (B + 1) / 2B of the work, at the price of
    compiling B network passes. The samples are the same too, except where XLA's size-dependent
    float32 kernels change the last bits of a logit next to a bin edge (docs/benchmarks.md).
    `row_multiple` must be the network's total downsampling factor
    (`downsampling_factor(num_stages)`) so that every crop is a valid input whose stride-2
    stages see the same rows as the full image.
    """
    h, w, c = image_shape

    def block_body(top):
        """fori_loop body for a pixel in rows < top, from a pass over rows [0, top)."""
        cond = None if cond_map is None else cond_map[:, :top]

        def body(i, x):
            r, col = i // w, i % w
            out = apply_fn(x[:, :top].astype(jnp.float32) / 127.5 - 1.0, cond)
            out = lax.dynamic_slice_in_dim(lax.dynamic_slice_in_dim(out, r, 1, 1), col, 1, 2)
            pixel = sample_pixel(jax.random.fold_in(rng, i), out[:, 0, 0], c, num_mixtures,
                                 likelihood)
            return lax.dynamic_update_slice(x, pixel[:, None, None, :], (0, r, col, 0))

        return body

    x, start = jnp.zeros((n, h, w, c), jnp.uint8), 0
    for top in row_block_ends(h, row_blocks, row_multiple):
        x = lax.fori_loop(start * w, top * w, block_body(top), x)
        start = top
    return x


def bits_per_dim(log_p, image_shape):
    """-ln p(x) / (D ln 2): bits/dim of a pmf over the 256 levels (no dequantisation offset)."""
    return -log_p / (math.prod(image_shape) * math.log(2))


__all__ = ["LIKELIHOODS", "ROW_BLOCKS", "GatedResnet", "PixelCNNPP", "bits_per_dim",
           "check_likelihood", "check_stages", "concat_elu", "conditional_params",
           "downsampling_factor", "log_prob", "mixture_params", "num_outputs", "pixel_log_prob",
           "row_block_ends", "sample", "sample_pixel"]
