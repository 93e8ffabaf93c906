"""Spectral normalisation: the normalised kernel has spectral norm ~1, u updates only in train
mode, gradients flow through sigma, and the raw parameters stay raw."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmodels.nn import SpectralNorm, power_iteration_sigma, sn_conv, sn_dense, sn_embed

BIG = nn.initializers.normal(3.0)  # spectral norm of the raw kernel far from 1


def _dense():
    return sn_dense(5, use_bias=False, kernel_init=BIG), nn.Dense(5, use_bias=False), (6, 7)


def _conv():
    return (sn_conv(4, 3, use_bias=False, kernel_init=BIG),
            nn.Conv(4, (3, 3), padding="SAME", use_bias=False), (2, 5, 5, 3))


def _train_steps(module, variables, x, n):
    """Applies `module` n times in train mode, threading the "spectral" collection."""
    def body(_, spectral):
        _, updates = module.apply({**variables, "spectral": spectral}, x, train=True,
                                  mutable=["spectral"])
        return updates["spectral"]
    spectral = jax.jit(lambda s: jax.lax.fori_loop(0, n, body, s))(variables["spectral"])
    return {**variables, "spectral": spectral}


@pytest.mark.parametrize("make", [_dense, _conv], ids=["dense", "conv"])
def test_power_iteration_normalises_to_unit_spectral_norm(make):
    sn, raw_layer, shape = make()
    x = jax.random.normal(jax.random.key(1), shape)
    variables = sn.init(jax.random.key(0), x, train=False)
    kernel = variables["params"]["layer"]["kernel"]
    mat = np.asarray(kernel).reshape(-1, kernel.shape[-1])
    assert np.linalg.svd(mat, compute_uv=False)[0] > 3.0  # init keeps the raw kernel
    variables = _train_steps(sn, variables, x, 50)
    y_sn = sn.apply(variables, x, train=False)
    y_raw = raw_layer.apply({"params": {"kernel": kernel}}, x)
    # Linear layer: y_sn = y_raw / sigma, so the effective kernel is kernel / sigma.
    sigma = float(jnp.vdot(y_raw, y_sn) / jnp.vdot(y_sn, y_sn))
    np.testing.assert_allclose(np.asarray(y_raw) / sigma, y_sn, rtol=1e-4, atol=1e-5)
    top = np.linalg.svd(mat / sigma, compute_uv=False)[0]
    assert abs(top - 1.0) < 1e-2
    # Converged: train mode (one more power step) gives the same output.
    y_train, _ = sn.apply(variables, x, train=True, mutable=["spectral"])
    np.testing.assert_allclose(y_train, y_sn, rtol=1e-3, atol=1e-5)


def test_u_updates_only_in_train_mode_and_when_mutable():
    sn, _, shape = _dense()
    x = jnp.ones(shape)
    variables = sn.init(jax.random.key(0), x, train=False)
    assert set(variables["spectral"]) == {"kernel_u"}
    u0 = variables["spectral"]["kernel_u"]
    _, eval_updates = sn.apply(variables, x, train=False, mutable=["spectral"])
    np.testing.assert_array_equal(eval_updates["spectral"]["kernel_u"], u0)
    y_train, train_updates = sn.apply(variables, x, train=True, mutable=["spectral"])
    assert np.abs(np.asarray(train_updates["spectral"]["kernel_u"] - u0)).max() > 1e-3
    # Train mode with an immutable "spectral" collection: the same power step, nothing written.
    np.testing.assert_allclose(sn.apply(variables, x, train=True), y_train, rtol=1e-6)
    assert not np.allclose(sn.apply(variables, x, train=False), y_train)


def test_gradient_flows_through_sigma():
    sn, _, shape = _dense()
    x = jax.random.normal(jax.random.key(1), shape)
    variables = sn.init(jax.random.key(0), x, train=False)
    w = variables["params"]["layer"]["kernel"]
    u = variables["spectral"]["kernel_u"]

    def loss(params):
        return jnp.sum(jnp.sin(sn.apply({**variables, "params": params}, x, train=False)))

    def reference(w):  # x W / (v^T W u) with u, v constants (paper, eq. 12)
        v = jax.lax.stop_gradient(w @ u / jnp.linalg.norm(w @ u))
        return jnp.sum(jnp.sin(x @ (w / (v @ w @ u))))

    grad = jax.grad(loss)(variables["params"])["layer"]["kernel"]
    assert np.all(np.isfinite(grad)) and np.abs(np.asarray(grad)).max() > 0
    np.testing.assert_allclose(grad, jax.grad(reference)(w), rtol=1e-4, atol=1e-6)
    # Direction of the top singular vector: the gradient of sigma is v u^T.
    sigma, u1 = power_iteration_sigma(w, u, 1)
    v1 = w @ u / jnp.linalg.norm(w @ u)
    np.testing.assert_allclose(jax.grad(lambda w: power_iteration_sigma(w, u, 1)[0])(w),
                               jnp.outer(v1, u1), atol=1e-6)


def test_disabled_and_layouts():
    x = jax.random.normal(jax.random.key(1), (3, 4))
    off = sn_dense(6, n_power_iterations=0)
    variables = off.init(jax.random.key(0), x, train=False)
    assert set(variables) == {"params"}
    np.testing.assert_allclose(off.apply(variables, x, train=True),
                               nn.Dense(6).apply({"params": variables["params"]["layer"]}, x))

    class Net(nn.Module):  # a layer built inside a parent belongs to the parent
        @nn.compact
        def __call__(self, x, train: bool):
            h = SpectralNorm(nn.Dense(3), name="sn")(x, train)
            return h + sn_embed(5, 3, name="emb")(jnp.array([0, 4, 2]), train)

    variables = Net().init(jax.random.key(0), x, train=False)
    assert jax.tree.map(jnp.shape, variables) == {
        "params": {"Dense_0": {"bias": (3,), "kernel": (4, 3)},
                   "emb": {"layer": {"embedding": (5, 3)}}},
        "spectral": {"sn": {"kernel_u": (3,)}, "emb": {"embedding_u": (3,)}}}
    with pytest.raises(ValueError, match="n_power_iterations"):
        sn_dense(2, n_power_iterations=-1).init(jax.random.key(0), x, train=False)
