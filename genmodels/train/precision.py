"""bf16 mixed precision for train steps (`train.compute_dtype`).

Under "bfloat16" a loss sees its params cast to bf16 (the float32 master params, optimizer state
and updates are untouched; gradients flow back to them through the cast) and runs inside a Flax
method interceptor that casts the floating inputs of every `LOW_PRECISION_LAYERS` call to bf16
and its floating outputs back to float32. So the matmuls and convolutions of those layers run in
bf16 (bf16 kernel x bf16 input), while everything between them (nonlinearities, normalisation
statistics, log-determinants, losses) sees float32 activations, and JAX's promotion computes it
in float32 from the bf16-rounded params. The loss, metrics and updated collections come back in
float32.

Stay float32 (their inputs are float32 activations, so promotion computes them in float32 from
bf16-rounded params): the einsum of `MinibatchDiscrimination`, the 1x1 convolution of
`InvConv1x1` (which, like `ActNorm`, computes in the activations' dtype so that its log-det is
exact), and the power iteration of `SpectralNorm` (the normalised kernel then runs in bf16 inside
its Dense/Conv).
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genmodels.nn.conv import SubPixelConvTranspose
from genmodels.nn.masked import ShiftedConvTranspose

COMPUTE_DTYPES = ("float32", "bfloat16")

# Layers whose __call__ combines its params with its inputs in one matmul or convolution (after
# flax's promote_dtype, or with both in the same dtype): given bf16 params and bf16 inputs they
# compute in bf16.
LOW_PRECISION_LAYERS = (nn.Dense, nn.DenseGeneral, nn.Einsum, nn.Conv, nn.ConvTranspose,
                        nn.ConvLocal, SubPixelConvTranspose, ShiftedConvTranspose)


def check_compute_dtype(compute_dtype: str, field: str = "train.compute_dtype") -> None:
    """Raises a ValueError naming the config field unless `compute_dtype` is supported."""
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"Unknown {field}={compute_dtype!r}; valid: {', '.join(COMPUTE_DTYPES)}.")


def _cast_leaf(x, dtype):
    if isinstance(x, (jax.Array, np.ndarray)) and jnp.issubdtype(x.dtype, jnp.floating):
        return x.astype(dtype)
    return x


def cast_floating(tree, dtype):
    """`tree` with its floating-point array leaves cast to `dtype`; every other leaf (integer,
    uint8, bool, PRNG key, Python scalar, string) is returned as is."""
    return jax.tree.map(functools.partial(_cast_leaf, dtype=dtype), tree)


def low_precision_interceptor(dtype):
    """A `nn.intercept_methods` interceptor: `__call__` of a `LOW_PRECISION_LAYERS` module gets
    its floating args cast to `dtype` and returns its floating outputs in float32; every other
    method call runs as is."""

    def interceptor(next_fun, args, kwargs, context):
        if context.method_name != "__call__" or not isinstance(context.module,
                                                               LOW_PRECISION_LAYERS):
            return next_fun(*args, **kwargs)
        out = next_fun(*cast_floating(args, dtype), **cast_floating(kwargs, dtype))
        return cast_floating(out, jnp.float32)

    return interceptor


def mixed_precision(loss_fn, compute_dtype: str = "float32"):
    """`loss_fn(params, *args)` computed with `LOW_PRECISION_LAYERS` in `compute_dtype`.

    The returned function has the same signature: it calls `loss_fn` with the floating params
    cast to `compute_dtype` inside `low_precision_interceptor`, and returns its outputs with
    floating leaves in float32. "float32" returns `loss_fn` itself.
    """
    check_compute_dtype(compute_dtype)
    if compute_dtype == "float32":
        return loss_fn
    dtype = jnp.dtype(compute_dtype)

    def mixed_loss_fn(params, *args):
        with nn.intercept_methods(low_precision_interceptor(dtype)):
            out = loss_fn(cast_floating(params, dtype), *args)
        return cast_floating(out, jnp.float32)

    return mixed_loss_fn
