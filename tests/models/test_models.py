"""Shapes, ranges, batch-norm behaviour and shape errors of the networks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmodels.models import (
    ConvDecoder,
    ConvEncoder,
    DCGANDiscriminator,
    DCGANGenerator,
    Maxout,
    MLPDiscriminator,
    MLPGenerator,
    check_divisible,
    dcgan_num_upsamplings,
)

Z = 8


def _init_apply(module, x, train=False):
    variables = module.init(jax.random.key(0), x, train=False)
    out, updates = module.apply(variables, x, train=train, mutable=["batch_stats"])
    return variables, out, updates


@pytest.mark.parametrize("side,channels", [(8, 1), (16, 3), (32, 3), (64, 1)])
def test_dcgan_shapes_and_range(side, channels):
    z = jax.random.normal(jax.random.key(1), (3, Z))
    g = DCGANGenerator((side, side, channels), base_features=4)
    _, x, _ = _init_apply(g, z, train=True)
    assert x.shape == (3, side, side, channels)
    assert float(jnp.abs(x).max()) <= 1.0
    d = DCGANDiscriminator(base_features=4)
    _, logits, _ = _init_apply(d, x, train=True)
    assert logits.shape == (3,)


def test_dcgan_stage_layout():
    assert [dcgan_num_upsamplings((s, s, 3)) for s in (8, 16, 32, 64, 128)] == [1, 2, 3, 4, 5]
    z = jnp.zeros((1, Z))
    params = DCGANGenerator((64, 64, 3), base_features=8).init(
        jax.random.key(0), z, train=False)["params"]
    assert params["dense"]["kernel"].shape == (Z, 4 * 4 * 64)
    assert [params[f"up_{i}"]["kernel"].shape[-1] for i in range(4)] == [32, 16, 8, 3]


def test_dcgan_subpixel_equals_transpose():
    z = jax.random.normal(jax.random.key(1), (4, Z))
    g_sub = DCGANGenerator((16, 16, 3), base_features=4, upsample="subpixel")
    g_tr = DCGANGenerator((16, 16, 3), base_features=4, upsample="transpose")
    variables = g_sub.init(jax.random.key(0), z, train=False)
    assert jax.tree.map(jnp.shape, variables) == jax.tree.map(
        jnp.shape, g_tr.init(jax.random.key(0), z, train=False))
    for train in (False, True):
        a, _ = g_sub.apply(variables, z, train=train, mutable=["batch_stats"])
        b, _ = g_tr.apply(variables, z, train=train, mutable=["batch_stats"])
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("module,make_input", [
    (DCGANGenerator((8, 8, 1), base_features=4), lambda: jnp.ones((4, Z))),
    (DCGANDiscriminator(base_features=4),
     lambda: jax.random.normal(jax.random.key(2), (4, 16, 16, 3))),
    (MLPGenerator(hidden=(16, 16)), lambda: jax.random.normal(jax.random.key(2), (4, 2))),
])
def test_batch_stats_update_only_in_train_mode(module, make_input):
    x = make_input()
    variables = module.init(jax.random.key(0), x, train=False)
    before = variables["batch_stats"]
    _, train_updates = module.apply(variables, x, train=True, mutable=["batch_stats"])
    _, eval_updates = module.apply(variables, x, train=False, mutable=["batch_stats"])
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), before,
                           train_updates["batch_stats"])
    assert all(jax.tree.leaves(changed))
    jax.tree.map(np.testing.assert_array_equal, before, eval_updates["batch_stats"])


def test_dcgan_without_batch_norm():
    z = jnp.ones((2, Z))
    variables = DCGANGenerator((8, 8, 3), base_features=4, use_batch_norm=False).init(
        jax.random.key(0), z, train=True)
    assert "batch_stats" not in variables
    x = jnp.ones((2, 16, 16, 3))
    assert "batch_stats" not in DCGANDiscriminator(4, use_batch_norm=False).init(
        jax.random.key(0), x, train=True)


@pytest.mark.parametrize("shape", [(12, 12, 3), (4, 4, 1), (32, 16, 3), (28, 28, 1)])
def test_dcgan_invalid_sizes(shape):
    with pytest.raises(ValueError, match="data.image_size"):
        dcgan_num_upsamplings(shape)
    with pytest.raises(ValueError, match=f"got {shape[0]}x{shape[1]}"):
        DCGANGenerator(shape).init(jax.random.key(0), jnp.ones((1, Z)), train=False)
    with pytest.raises(ValueError, match="4 \\* 2\\^k"):
        DCGANDiscriminator().init(jax.random.key(0), jnp.ones((1, *shape)), train=False)


def test_mlp_shapes():
    z = jax.random.normal(jax.random.key(0), (5, 2))
    _, x, _ = _init_apply(MLPGenerator(out_dim=2, hidden=(32, 32)), z, train=True)
    assert x.shape == (5, 2)
    for maxout in (1, 5):
        _, logits, _ = _init_apply(MLPDiscriminator(hidden=(16, 16), maxout=maxout), x)
        assert logits.shape == (5,)
    with pytest.raises(ValueError, match="model.maxout"):
        MLPDiscriminator(maxout=0).init(jax.random.key(0), x, train=False)


def test_maxout_is_max_over_pieces():
    x = jax.random.normal(jax.random.key(0), (6, 3))
    layer = Maxout(features=4, pieces=5)
    params = layer.init(jax.random.key(1), x)
    assert params["params"]["Dense_0"]["kernel"].shape == (3, 20)
    y = layer.apply(params, x)
    dense = x @ params["params"]["Dense_0"]["kernel"] + params["params"]["Dense_0"]["bias"]
    np.testing.assert_allclose(y, dense.reshape(6, 4, 5).max(-1), rtol=1e-6)
    assert y.shape == (6, 4)


@pytest.mark.parametrize("shape,features", [((8, 8, 1), (8, 16)), ((32, 32, 3), (8, 16))])
def test_encoder_decoder_shapes(shape, features):
    x = jax.random.uniform(jax.random.key(0), (2, *shape), minval=-1, maxval=1)
    enc = ConvEncoder(latent_dim=Z, features=features, dense=32)
    (mean, log_scale), _ = enc.init_with_output(jax.random.key(1), x, train=False)
    assert mean.shape == log_scale.shape == (2, Z)
    for upsample in ("subpixel", "transpose"):
        dec = ConvDecoder(shape, out_channels=2 * shape[-1], features=features[::-1], dense=32,
                          upsample=upsample)
        out, _ = dec.init_with_output(jax.random.key(2), mean, train=False)
        assert out.shape == (2, shape[0], shape[1], 2 * shape[-1])


def test_encoder_decoder_divisibility_errors():
    with pytest.raises(ValueError, match="model.features"):
        check_divisible((8, 8, 1), 4)
    check_divisible((8, 8, 1), 3)
    with pytest.raises(ValueError, match="model.features"):
        ConvDecoder((8, 12, 1), 1, features=(8, 8, 8)).init(
            jax.random.key(0), jnp.ones((1, Z)), train=False)
    with pytest.raises(ValueError, match="model.features"):
        ConvEncoder(Z, features=(8, 8, 8, 8)).init(
            jax.random.key(0), jnp.ones((1, 8, 8, 1)), train=False)
