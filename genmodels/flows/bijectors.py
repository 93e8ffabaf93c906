"""Bijectors on NHWC arrays: each has `forward(x) -> (y, logdet)` and `inverse(y) -> (x, logdet)`.

logdet is per example [B]: ln|det dy/dx| for forward, ln|det dx/dy| (its negative) for inverse.
Modules with parameters implement one compact `__call__(x, inverse=False)`; `forward` and
`inverse` call it, so both directions share the same parameters. Layers that can start at the
identity do (zero-initialised last conv of every coupling network and conditional prior), except
ActNorm, whose data-dependent initialisation normalises the first batch it sees in the forward
direction, and InvConv1x1, which starts at a random rotation (|det| = 1) as in Glow.
"""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

MASKS = ("checkerboard", "channel")
SCALE_BOUNDS = ("tanh", "sigmoid")
COUPLINGS = ("affine", "additive")
NETS = ("resnet", "glow")


def _per_example(v, batch: int):
    """Broadcasts a scalar log-det to [B]."""
    return jnp.broadcast_to(v, (batch,))


def _sum_per_example(v):
    return jnp.sum(v, axis=tuple(range(1, v.ndim)))


# --- Squeeze (space-to-depth): a permutation, log-det 0. ---

def squeeze(x):
    """[B, H, W, C] -> [B, H/2, W/2, 4C]; each output pixel holds a 2x2 block (Real NVP Fig. 3)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h // 2, w // 2, 4 * c)


def unsqueeze(y):
    """[B, H, W, 4C] -> [B, 2H, 2W, C], the inverse of `squeeze`."""
    b, h, w, c4 = y.shape
    c = c4 // 4
    y = y.reshape(b, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(b, 2 * h, 2 * w, c)


class Squeeze(nn.Module):
    """`squeeze` as a bijector (no parameters; log-det 0)."""

    def __call__(self, x, inverse: bool = False):
        y = unsqueeze(x) if inverse else squeeze(x)
        return y, jnp.zeros(x.shape[:1], x.dtype)

    def forward(self, x):
        return self(x)

    def inverse(self, y):
        return self(y, inverse=True)


class Bijector(nn.Module):
    """Base: subclasses implement `__call__(x, inverse=False) -> (y, logdet [B])`."""

    def forward(self, x):
        return self(x)

    def inverse(self, y):
        return self(y, inverse=True)


# --- Actnorm (Glow, Sec. 3.1). ---

class ActNorm(Bijector):
    """y = (x + b) * exp(s) per channel; ln|det| = H W sum_c s_c (Glow, Table 1).

    Data-dependent init: b = -mean(x), s = -ln(std(x) + eps) over the batch and spatial axes of
    the first forward batch, so that batch leaves zero-mean unit-variance. Initialised through
    `inverse`, it starts at the identity (there is no data for it to normalise)."""

    eps: float = 1e-6

    @nn.compact
    def __call__(self, x, inverse: bool = False):
        axes = tuple(range(x.ndim - 1))
        c = x.shape[-1]

        def init_bias(rng, shape):
            return jnp.zeros(shape) if inverse else -jnp.mean(x, axes)

        def init_log_scale(rng, shape):
            return jnp.zeros(shape) if inverse else -jnp.log(jnp.std(x, axes) + self.eps)

        bias = self.param("bias", init_bias, (c,))
        log_scale = self.param("log_scale", init_log_scale, (c,))
        # In the activations' dtype, so that the log-det stays float32 under bf16 params
        # (train.compute_dtype).
        bias, log_scale = bias.astype(x.dtype), log_scale.astype(x.dtype)
        logdet = _per_example(math.prod(x.shape[1:-1]) * jnp.sum(log_scale), x.shape[0])
        if inverse:
            return x * jnp.exp(-log_scale) - bias, -logdet
        return (x + bias) * jnp.exp(log_scale), logdet


# --- Invertible 1x1 convolution, LU-parameterised (Glow, Sec. 3.2). ---

@functools.lru_cache(maxsize=None)
def lu_rotation(channels: int, seed: int):
    """Glow's init: W = a random rotation = P L (U + diag(s)), P a permutation, L unit lower
    triangular, U strictly upper triangular. Returns numpy (P, L, U, sign(s), ln|s|)."""
    q, _ = np.linalg.qr(np.random.RandomState(seed).randn(channels, channels))
    p, lower, upper = scipy.linalg.lu(q)
    s = np.diag(upper)
    return (p.astype(np.float32), lower.astype(np.float32),
            np.triu(upper, 1).astype(np.float32), np.sign(s).astype(np.float32),
            np.log(np.abs(s)).astype(np.float32))


class InvConv1x1(Bijector):
    """y = W x at every pixel, W = P L (U + diag(sign(s) exp(log_s))); ln|det| = H W sum(log_s).

    P and sign(s) are fixed by (channels, seed) (not parameters); L, U, log_s are learned and
    start at the LU decomposition of a random rotation."""

    seed: int = 0

    @nn.compact
    def __call__(self, x, inverse: bool = False):
        c = x.shape[-1]
        p, l0, u0, sign, log_s0 = lu_rotation(c, self.seed)
        lower = self.param("lower", lambda *_: jnp.asarray(l0), (c, c))
        upper = self.param("upper", lambda *_: jnp.asarray(u0), (c, c))
        log_s = self.param("log_s", lambda *_: jnp.asarray(log_s0), (c,))
        # In the activations' dtype (float32 under train.compute_dtype=bfloat16 too), so that
        # W and the log-det agree exactly.
        lower, upper, log_s = (v.astype(x.dtype) for v in (lower, upper, log_s))
        eye = jnp.eye(c, dtype=x.dtype)
        lower = jnp.tril(lower, -1) + eye
        upper = jnp.triu(upper, 1) + jnp.diag(sign * jnp.exp(log_s))
        logdet = _per_example(math.prod(x.shape[1:-1]) * jnp.sum(log_s), x.shape[0])
        if inverse:  # W^-1 = U^-1 L^-1 P^T by triangular solves.
            l_inv_pt = jax.scipy.linalg.solve_triangular(lower, jnp.asarray(p).T, lower=True,
                                                          unit_diagonal=True)
            w_inv = jax.scipy.linalg.solve_triangular(upper, l_inv_pt, lower=False)
            return jnp.einsum("...c,dc->...d", x, w_inv), -logdet
        w = jnp.asarray(p) @ lower @ upper
        return jnp.einsum("...c,dc->...d", x, w), logdet


# --- Coupling layers (Real NVP, Sec. 3.3-3.4; Glow, Sec. 3.3). ---

def checkerboard(height: int, width: int, parity: int, dtype=jnp.float32):
    """Mask b [1, H, W, 1]: 1 where (i + j + parity) is even (the conditioning pixels)."""
    i, j = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return jnp.asarray(((i + j + parity) % 2 == 0)[None, :, :, None], dtype)


def split_channels(x, parity: int):
    """(conditioning, transformed) halves of the channels; parity 1 swaps the halves."""
    k = x.shape[-1] // 2
    a, b = x[..., :k], x[..., k:]
    return (a, b) if parity == 0 else (b, a)


def merge_channels(cond, transformed, parity: int):
    """The inverse of split_channels."""
    return jnp.concatenate([cond, transformed] if parity == 0 else [transformed, cond], -1)


class ResBlock(nn.Module):
    features: int

    @nn.compact
    def __call__(self, h):
        r = nn.Conv(self.features, (3, 3))(nn.relu(h))
        return h + nn.Conv(self.features, (3, 3))(nn.relu(r))


class CouplingNet(nn.Module):
    """The (s, t) network of a coupling layer; its last conv is zero-initialised, so the coupling
    starts at the identity. net="resnet": conv3x3, num_blocks residual blocks, ReLU (Real NVP);
    net="glow": conv3x3-ReLU-conv1x1-ReLU (Glow, Sec. 3.3)."""

    out_channels: int
    hidden: int
    net: str = "resnet"
    num_blocks: int = 2

    @nn.compact
    def __call__(self, x):
        h = nn.Conv(self.hidden, (3, 3))(x)
        if self.net == "glow":
            h = nn.relu(nn.Conv(self.hidden, (1, 1))(nn.relu(h)))
        else:
            for _ in range(self.num_blocks):
                h = ResBlock(self.hidden)(h)
            h = nn.relu(h)
        return nn.Conv(self.out_channels, (3, 3), kernel_init=nn.initializers.zeros,
                       bias_init=nn.initializers.zeros, name="zero_conv")(h)


def bounded_log_scale(raw, bound: str, tanh_scale=None):
    """log s of an affine coupling, 0 at raw = 0 (identity at init).

    tanh: log s = c * tanh(raw), c a learned per-channel scale (Real NVP);
    sigmoid: s = sigmoid(raw + 2) / sigmoid(2), Glow's sigmoid(raw + 2) rescaled to 1 at raw = 0
    (bounded above by 1 / sigmoid(2) = 1.135)."""
    if bound == "tanh":
        return tanh_scale * jnp.tanh(raw)
    return jax.nn.log_sigmoid(raw + 2.0) - jax.nn.log_sigmoid(2.0)


class Coupling(Bijector):
    """Affine coupling (Real NVP eq. 9 with mask b):
      y = b * x + (1 - b) * (x * exp(s(b * x)) + t(b * x)),  ln|det| = sum (1 - b) s(b * x);
    additive coupling (NICE; Glow's additive variant): s = 0, log-det 0.
    mask="checkerboard": b alternates over pixels (parity picks the phase; the net also sees b);
    mask="channel": b selects half the channels (parity picks which half conditions)."""

    mask: str = "channel"
    parity: int = 0
    kind: str = "affine"
    hidden: int = 64
    net: str = "resnet"
    num_blocks: int = 2
    scale_bound: str = "tanh"

    def _net(self, cond, out_channels):
        return CouplingNet(out_channels, self.hidden, self.net, self.num_blocks, name="net")(cond)

    def _shift_log_scale(self, cond, out_channels):
        affine = self.kind == "affine"
        h = self._net(cond, out_channels * (2 if affine else 1))
        if not affine:
            return h, jnp.zeros_like(h)
        shift, raw = jnp.split(h, 2, axis=-1)
        tanh_scale = (self.param("tanh_scale", nn.initializers.ones, (out_channels,))
                      if self.scale_bound == "tanh" else None)
        return shift, bounded_log_scale(raw, self.scale_bound, tanh_scale)

    @nn.compact
    def __call__(self, x, inverse: bool = False):
        if self.mask == "checkerboard":
            b = checkerboard(x.shape[1], x.shape[2], self.parity, x.dtype)
            cond = jnp.concatenate([x * b, jnp.broadcast_to(b, x.shape[:-1] + (1,))], -1)
            shift, log_scale = self._shift_log_scale(cond, x.shape[-1])
            shift, log_scale = shift * (1.0 - b), log_scale * (1.0 - b)
            y = (x - shift) * jnp.exp(-log_scale) if inverse else x * jnp.exp(log_scale) + shift
        else:
            cond, other = split_channels(x, self.parity)
            shift, log_scale = self._shift_log_scale(cond, other.shape[-1])
            other = ((other - shift) * jnp.exp(-log_scale) if inverse
                     else other * jnp.exp(log_scale) + shift)
            y = merge_channels(cond, other, self.parity)
        logdet = _sum_per_example(log_scale)
        return y, -logdet if inverse else logdet


class AffineCoupling(Coupling):
    kind: str = "affine"


class AdditiveCoupling(Coupling):
    kind: str = "additive"


# --- Multi-scale factor-out with a learned conditional prior (Real NVP Sec. 3.6; Glow split). ---

class FactorOut(Bijector):
    """x = [x_kept, x_out] (channel halves) -> y = [x_kept, eps],
      eps = (x_out - mu(x_kept)) * exp(-log_sigma(x_kept)),  ln|det| = -sum log_sigma,
    where (mu, log_sigma) come from a zero-initialised conv of x_kept: the factored-out half
    has the learned conditional prior N(mu, sigma^2), and eps is standard normal under it. The
    multi-scale model hands eps to the base density and continues with x_kept."""

    @nn.compact
    def __call__(self, x, inverse: bool = False):
        k = x.shape[-1] // 2
        kept, other = x[..., :k], x[..., k:]
        h = nn.Conv(2 * other.shape[-1], (3, 3), kernel_init=nn.initializers.zeros,
                    bias_init=nn.initializers.zeros, name="prior")(kept)
        mean, log_sigma = jnp.split(h, 2, axis=-1)
        logdet = _sum_per_example(log_sigma)
        if inverse:
            return jnp.concatenate([kept, other * jnp.exp(log_sigma) + mean], -1), logdet
        return jnp.concatenate([kept, (other - mean) * jnp.exp(-log_sigma)], -1), -logdet


def check_choice(value, valid, field: str) -> None:
    if value not in valid:
        raise ValueError(f"Unknown {field}={value!r}; valid: {', '.join(valid)}.")
