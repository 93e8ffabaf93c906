"""Minibatch standard deviation and minibatch discrimination against numpy references."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmodels.nn import MinibatchDiscrimination, MinibatchStddev


def _stddev_reference(x, g):
    """Karras et al. 2018 with the official strided grouping: sample b is in group b % (B / G)."""
    b = x.shape[0]
    m = b // g
    out = np.empty(b)
    for k in range(m):
        members = x[k::m].astype(np.float64)  # the G samples of group k
        std = np.sqrt(members.var(axis=0) + 1e-8)
        out[k::m] = std.mean()
    return out


@pytest.mark.parametrize("shape,group,expected_group", [
    ((8, 4, 4, 3), 4, 4), ((8, 5), 2, 2), ((6, 3, 3, 2), 0, 6), ((2, 7), 4, 2)])
def test_stddev_matches_definition(shape, group, expected_group):
    scale = np.arange(1, shape[0] + 1, dtype=np.float32).reshape((-1,) + (1,) * (len(shape) - 1))
    x = np.asarray(jax.random.normal(jax.random.key(0), shape)) * scale
    y = jax.jit(lambda x: MinibatchStddev(group).apply({}, x, train=True))(jnp.asarray(x))
    assert y.shape == shape[:-1] + (shape[-1] + 1,)
    np.testing.assert_array_equal(y[..., :-1], x)
    extra = np.asarray(y[..., -1]).reshape(shape[0], -1)
    assert np.all(extra == extra[:, :1])  # constant over pixels
    np.testing.assert_allclose(extra[:, 0], _stddev_reference(x, expected_group), rtol=1e-5)


def test_stddev_identical_samples_and_errors():
    x = jnp.broadcast_to(jax.random.normal(jax.random.key(0), (1, 4, 4, 3)), (8, 4, 4, 3))
    extra = MinibatchStddev(4).apply({}, x, train=False)[..., -1]
    assert float(jnp.abs(extra).max()) <= 1.1e-4  # sqrt(0 + 1e-8)
    with pytest.raises(ValueError, match="must divide the batch size 6"):
        MinibatchStddev(4).apply({}, jnp.ones((6, 3)), train=False)
    with pytest.raises(ValueError, match="group_size"):
        MinibatchStddev(-1).apply({}, jnp.ones((6, 3)), train=False)


def _discrimination_reference(x, t):
    m = np.einsum("ba,akc->bkc", x, t)
    b = x.shape[0]
    o = np.zeros((b, t.shape[1]))
    for i in range(b):
        for j in range(b):
            if i != j:
                o[i] += np.exp(-np.abs(m[i] - m[j]).sum(-1))
    return np.concatenate([x, o], axis=1)


def test_discrimination_shape_reference_and_equivariance():
    layer = MinibatchDiscrimination(num_kernels=3, kernel_dim=2)
    x = jax.random.normal(jax.random.key(1), (5, 4))
    params = layer.init(jax.random.key(0), x, train=False)
    assert params["params"]["kernel"].shape == (4, 3, 2)
    t = np.asarray(jax.random.normal(jax.random.key(2), (4, 3, 2))) * 0.5
    params = {"params": {"kernel": jnp.asarray(t)}}
    apply = jax.jit(lambda p, x: layer.apply(p, x, train=True))
    y = apply(params, x)
    assert y.shape == (5, 7)
    np.testing.assert_allclose(y, _discrimination_reference(np.asarray(x, np.float64), t),
                               rtol=1e-5, atol=1e-6)
    perm = np.array([3, 0, 4, 1, 2])
    np.testing.assert_allclose(apply(params, x[perm]), y[perm], rtol=1e-5, atol=1e-6)
    # Identical samples: every c_b = exp(0) = 1, so o = B - 1. Spread samples: o -> 0.
    same = apply(params, jnp.broadcast_to(x[:1], (5, 4)))[:, 4:]
    np.testing.assert_allclose(same, 4.0, rtol=1e-6)
    spread = apply(params, 100.0 * jnp.eye(5, 4))[:, 4:]
    assert float(spread.max()) < 1e-3
