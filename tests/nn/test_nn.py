"""SubPixelConvTranspose == nn.ConvTranspose(padding="SAME"); depth/space rearrangements."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmodels.nn import (
    SubPixelConvTranspose,
    depth_to_space,
    space_to_depth,
    upsample_conv,
)

CASES = [  # (kernel, stride, input H x W, Cin, Cout, batch)
    ((4, 4), (2, 2), (5, 4), 3, 6, 2),
    ((3, 3), (2, 2), (4, 5), 4, 2, 3),
    ((5, 5), (2, 2), (3, 3), 2, 5, 2),
    ((4, 4), (1, 1), (5, 6), 3, 4, 2),
    ((3, 4), (3, 2), (3, 4), 2, 3, 2),
    ((1, 2), (2, 3), (3, 2), 2, 2, 2),
]


def _random_params(module, x, seed):
    params = module.init(jax.random.key(seed), x)
    # A non-zero bias so that the bias path is exercised too.
    return jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(seed + 1), p.shape),
                        params)


@pytest.mark.parametrize("kernel,stride,hw,cin,cout,batch", CASES)
def test_subpixel_matches_conv_transpose(kernel, stride, hw, cin, cout, batch):
    x = jax.random.normal(jax.random.key(0), (batch, *hw, cin))
    ref = nn.ConvTranspose(cout, kernel, stride, padding="SAME")
    sub = SubPixelConvTranspose(cout, kernel, stride)
    params = _random_params(ref, x, 1)
    assert jax.tree.map(jnp.shape, sub.init(jax.random.key(1), x)) == jax.tree.map(
        jnp.shape, params)

    y_ref, y_sub = ref.apply(params, x), sub.apply(params, x)
    assert y_sub.shape == (batch, hw[0] * stride[0], hw[1] * stride[1], cout)
    np.testing.assert_allclose(y_sub, y_ref, atol=1e-5, rtol=1e-5)

    weights = jax.random.normal(jax.random.key(2), y_ref.shape)  # a generic cotangent

    def loss(module):
        return lambda p, x: jnp.sum(weights * module.apply(p, x))

    g_ref = jax.grad(loss(ref), argnums=(0, 1))(params, x)
    g_sub = jax.grad(loss(sub), argnums=(0, 1))(params, x)
    for a, b in zip(jax.tree.leaves(g_sub), jax.tree.leaves(g_ref)):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_subpixel_default_init_matches_flax():
    x = jnp.ones((1, 3, 3, 4))
    p_sub = SubPixelConvTranspose(5).init(jax.random.key(3), x)
    p_ref = nn.ConvTranspose(5, (4, 4), (2, 2), padding="SAME").init(jax.random.key(3), x)
    for a, b in zip(jax.tree.leaves(p_sub), jax.tree.leaves(p_ref)):
        np.testing.assert_array_equal(a, b)


def test_subpixel_without_bias():
    x = jax.random.normal(jax.random.key(0), (2, 3, 3, 2))
    ref = nn.ConvTranspose(3, (4, 4), (2, 2), padding="SAME", use_bias=False)
    params = ref.init(jax.random.key(1), x)
    y = SubPixelConvTranspose(3, use_bias=False).apply(params, x)
    np.testing.assert_allclose(y, ref.apply(params, x), atol=1e-5)


def test_subpixel_rejects_non_nhwc():
    with pytest.raises(ValueError, match="NHWC"):
        SubPixelConvTranspose(3).init(jax.random.key(0), jnp.ones((4, 4, 2)))


def test_depth_to_space_inverts_space_to_depth():
    x = jax.random.normal(jax.random.key(0), (2, 6, 8, 3))
    for block in (2, (3, 2), 1):
        z = space_to_depth(x, block)
        bh, bw = (block, block) if isinstance(block, int) else block
        assert z.shape == (2, 6 // bh, 8 // bw, 3 * bh * bw)
        np.testing.assert_array_equal(depth_to_space(z, block), x)
    # Channel order: channel (i * bw + j) * C + c lands at pixel offset (i, j).
    z = jnp.arange(4.0).reshape(1, 1, 1, 4)
    np.testing.assert_array_equal(depth_to_space(z, 2)[0, :, :, 0], [[0, 1], [2, 3]])
    with pytest.raises(ValueError):
        space_to_depth(x, 4)


def test_upsample_conv_kinds():
    assert isinstance(upsample_conv("subpixel", 4), SubPixelConvTranspose)
    layer = upsample_conv("transpose", 4)
    assert isinstance(layer, nn.ConvTranspose) and layer.padding == "SAME"
    with pytest.raises(ValueError, match="subpixel, transpose"):
        upsample_conv("bilinear", 4)
