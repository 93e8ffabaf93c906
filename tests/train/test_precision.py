"""train.compute_dtype: bf16 matmuls/convolutions on bf16 copies of float32 params."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmodels import data, methods
from genmodels.flows.bijectors import ActNorm, InvConv1x1
from genmodels.nn.conv import SubPixelConvTranspose
from genmodels.nn.masked import ShiftedConvTranspose
from genmodels.nn.spectral import sn_conv
from genmodels.train import loop
from genmodels.train.precision import cast_floating, mixed_precision
from genmodels.train.state import init_train_state
from genmodels.train.step import make_train_step
from genmodels.workdir import read_metrics
from tests.helpers import tiny_gan, tiny_vae

MATMULS = ("dot_general", "conv_general_dilated")
KEY = jax.random.PRNGKey(0)


def _matmul_dtypes(jaxpr) -> list[tuple[str, ...]]:
    """Operand dtypes of every dot_general / conv_general_dilated of a jaxpr, sub-jaxprs
    (jit, scan, custom_jvp, ...) included."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in MATMULS:
            found.append(tuple(str(v.aval.dtype) for v in eqn.invars))
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                if hasattr(sub, "eqns"):
                    found += _matmul_dtypes(sub)
    return found


def _train_step_matmuls(config, compute_dtype: str):
    """Operand dtypes of the matmuls/convs of one traced (never compiled) train step."""
    info = data.get_info(config.data)
    method = methods.build(config, info)
    rng = np.random.default_rng(0)
    batch = {"image": rng.integers(0, 256, (config.data.batch_size, *info.shape), np.uint8)}
    state = jax.eval_shape(functools.partial(init_train_state, method), KEY, batch)
    jaxpr = jax.make_jaxpr(make_train_step(method, compute_dtype))(state, batch)
    return _matmul_dtypes(jaxpr)


@pytest.mark.parametrize("make_config", [tiny_vae, tiny_gan], ids=["vae", "gan"])
def test_bfloat16_train_step_runs_matmuls_in_bf16(make_config):
    bf16 = _train_step_matmuls(make_config(), "bfloat16")
    f32 = _train_step_matmuls(make_config(), "float32")
    assert len(bf16) == len(f32) > 0
    assert all(dtypes == ("bfloat16", "bfloat16") for dtypes in bf16), bf16
    assert all(dtypes == ("float32", "float32") for dtypes in f32), f32


def _loss_of(module, x, **apply_kw):
    """loss(params, x): sum of squares of the module's (first) output, and its params."""
    variables = module.init(KEY, x, **apply_kw)

    def loss(params, x):
        out = module.apply({**variables, "params": params}, x, **apply_kw)
        out = out[0] if isinstance(out, tuple) else out
        return jnp.sum(jnp.square(out))

    return loss, variables["params"]


@pytest.mark.parametrize("module, shape, kw", [
    (nn.Dense(3), (2, 4), {}),
    (nn.Conv(3, (3, 3)), (2, 4, 4, 2), {}),
    (nn.ConvTranspose(3, (3, 3), (2, 2)), (2, 4, 4, 2), {}),
    (nn.Einsum((4, 3), "bi,ij->bj"), (2, 4), {}),
    (SubPixelConvTranspose(3), (2, 4, 4, 2), {}),
    (ShiftedConvTranspose(3), (2, 4, 4, 2), {}),
    (sn_conv(3), (2, 4, 4, 2), {"train": False}),
], ids=["dense", "conv", "conv_transpose", "einsum", "subpixel", "shifted_transpose", "sn_conv"])
def test_layers_compute_in_bf16_with_float32_grads(module, shape, kw):
    loss, params = _loss_of(module, jnp.ones(shape), **kw)
    grad_fn = jax.value_and_grad(mixed_precision(loss, "bfloat16"))
    value, grads = grad_fn(params, jnp.ones(shape))
    assert value.dtype == jnp.float32
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))
    dtypes = _matmul_dtypes(jax.make_jaxpr(grad_fn)(params, jnp.ones(shape)))
    # The spectral norm's power iteration (float32 matrix-vector products) is not a layer call.
    assert ("bfloat16", "bfloat16") in dtypes
    assert all(d == ("bfloat16", "bfloat16") for d in dtypes if "bfloat16" in d), dtypes
    ref = loss(params, jnp.ones(shape))
    np.testing.assert_allclose(value, ref, rtol=5e-2)


@pytest.mark.parametrize("bijector", [ActNorm(), InvConv1x1()], ids=["actnorm", "invconv"])
def test_flow_logdets_stay_float32(bijector):
    x = jax.random.normal(KEY, (2, 4, 4, 4))
    params = bijector.init(KEY, x)["params"]

    def logdet(params, x):
        return jnp.sum(bijector.apply({"params": params}, x)[1])

    mixed = mixed_precision(logdet, "bfloat16")
    assert jax.make_jaxpr(mixed)(params, x).out_avals[0].dtype == jnp.float32
    # The log-det is exact for the bf16-rounded params (computed in float32 from them).
    rounded = cast_floating(cast_floating(params, jnp.bfloat16), jnp.float32)
    np.testing.assert_allclose(mixed(params, x), logdet(rounded, x), rtol=1e-6)


def test_cast_floating_leaves_other_leaves_alone():
    tree = {"w": jnp.ones(2), "n": np.ones(2, np.float32), "i": jnp.arange(3),
            "image": np.zeros(2, np.uint8), "key": jax.random.PRNGKey(1),
            "typed_key": jax.random.key(1), "flag": True, "scale": 0.5, "name": "x"}
    cast = cast_floating(tree, jnp.bfloat16)
    assert cast["w"].dtype == cast["n"].dtype == jnp.bfloat16
    for name in ("i", "image", "key", "typed_key", "flag", "scale", "name"):
        assert cast[name] is tree[name], name


def _run(tmp_path, compute_dtype: str):
    c = tiny_vae(num_steps=4, log_every=1, checkpoint_every=4, sample_every=4)
    c.eval.every = 4
    c.train.compute_dtype = compute_dtype
    workdir = str(tmp_path / compute_dtype)
    state = loop.train_and_evaluate(c, workdir)
    return state, [r for r in read_metrics(workdir) if r["split"] == "train"]


def test_bfloat16_training_matches_float32(tmp_path):
    state32, metrics32 = _run(tmp_path, "float32")
    state16, metrics16 = _run(tmp_path, "bfloat16")
    for state in (state32, state16):  # Master params and optimizer state stay float32.
        floats = [x.dtype for x in jax.tree.leaves((state.params, state.opt_state))
                  if jnp.issubdtype(x.dtype, jnp.floating)]
        assert floats and all(d == jnp.float32 for d in floats)
    losses32 = [r["loss/vae"] for r in metrics32]
    losses16 = [r["loss/vae"] for r in metrics16]
    assert len(losses16) == 4 and np.all(np.isfinite(losses16))
    # Tolerance: bf16 keeps 8 mantissa bits (relative rounding 2^-9 = 0.2% per op).
    np.testing.assert_allclose(losses16, losses32, rtol=1e-2)  # Measured: 1e-5.


def test_unknown_compute_dtype_is_a_clear_error(tmp_path):
    c = tiny_vae()
    c.train.compute_dtype = "float16"
    message = r"Unknown train.compute_dtype='float16'; valid: float32, bfloat16."
    with pytest.raises(ValueError, match=message):
        loop.train_and_evaluate(c, str(tmp_path))
    with pytest.raises(ValueError, match=message):
        make_train_step(methods.build(c, data.get_info(c.data)), "float16")
