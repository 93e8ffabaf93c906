"""SNGAN ResNets: shapes, layouts, conditioning, projection term, collections, size errors.

Compilation dominates on CPU, so each test jits one function that does all its applies, and
shape-only checks at the published widths use `jax.eval_shape` (traced, never compiled).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmodels.models import (
    ConditionalBatchNorm,
    SNGANDiscriminator,
    SNGANGenerator,
    sngan_check_image_shape,
)

Z = 8
KEY = jax.random.key(0)


def _count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _init_train_eval(module, col):
    """jitted x -> (variables, train output, train updates[col], eval updates[col])."""
    def f(x):
        variables = module.init(KEY, x, train=False)
        out, train_updates = module.apply(variables, x, train=True, mutable=[col])
        _, eval_updates = module.apply(variables, x, train=False, mutable=[col])
        return variables, out, train_updates[col], eval_updates[col]
    return jax.jit(f)


def _check_train_only_updates(before, train_updates, eval_updates):
    # Every leaf changes in train mode (but a u in R^1, of the final Dense(1), is always +-1).
    changed = jax.tree.map(lambda a, b: a.size == 1 or bool(jnp.any(a != b)), before,
                           train_updates)
    assert all(jax.tree.leaves(changed))
    jax.tree.map(np.testing.assert_array_equal, before, eval_updates)


@pytest.mark.parametrize("side", [16, 32, 48, 64])
def test_generator_shapes_range_and_batch_stats(side):
    z = jax.random.normal(jax.random.key(1), (4, Z))
    g = SNGANGenerator((side, side, 3), base_features=8)
    variables, x, train_bs, eval_bs = _init_train_eval(g, "batch_stats")(z)
    assert set(variables) == {"params", "batch_stats"}
    assert x.shape == (4, side, side, 3)
    assert float(jnp.abs(x).max()) <= 1.0
    _check_train_only_updates(variables["batch_stats"], train_bs, eval_bs)


def test_discriminator_logits_and_spectral_collection():
    x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
    variables, logits, train_sn, eval_sn = _init_train_eval(
        SNGANDiscriminator(base_features=4), "spectral")(x)
    assert set(variables) == {"params", "spectral"}
    assert logits.shape == (4,)
    _check_train_only_updates(variables["spectral"], train_sn, eval_sn)


def test_paper_layouts_and_parameter_counts():
    """Published widths: 32px G 4.28M / D 1.05M parameters; output shapes at every size."""
    def init_shapes(module, x):
        return jax.eval_shape(lambda: module.init_with_output(KEY, x, train=False))

    expected = {32: (4, [256] * 4, [128] * 4, 4_276_739, 1_053_825),
                48: (6, [512, 256, 128, 64], [64, 128, 256, 512, 1024], None, None),
                64: (4, [1024, 512, 256, 128, 64], [64, 128, 256, 512, 1024], None, None),
                16: (4, [256] * 3, [128] * 4, None, None)}
    for side, (bottom, g_widths, d_widths, g_count, d_count) in expected.items():
        x, g = init_shapes(SNGANGenerator((side, side, 3)), jnp.zeros((2, 128)))
        logits, d = init_shapes(SNGANDiscriminator(), jnp.zeros((2, side, side, 3)))
        assert x.shape == (2, side, side, 3) and logits.shape == (2,)
        gp, dp = g["params"], d["params"]
        assert gp["dense"]["kernel"].shape == (128, bottom * bottom * g_widths[0])
        assert [gp[f"block_{i}"]["conv_2"]["kernel"].shape[-1]
                for i in range(len(g_widths) - 1)] == g_widths[1:]
        assert [dp[f"block_{i}"]["conv_2"]["layer"]["kernel"].shape[-1]
                for i in range(len(d_widths))] == d_widths
        assert set(d["spectral"]) == set(dp)  # every layer of D is normalised
        if g_count:
            assert (_count(gp), _count(dp)) == (g_count, d_count)


def test_invalid_sizes_name_the_config_field():
    for shape in [(40, 40, 3), (32, 48, 3), (8, 8, 1)]:
        with pytest.raises(ValueError, match="data.image_size"):
            sngan_check_image_shape(shape)
    with pytest.raises(ValueError, match="data.image_size"):
        SNGANGenerator((40, 40, 3), base_features=4).init(KEY, jnp.zeros((1, Z)), train=False)
    with pytest.raises(ValueError, match="data.image_size"):
        SNGANDiscriminator(base_features=4).init(KEY, jnp.zeros((1, 8, 8, 3)), train=False)
    assert [sngan_check_image_shape((s, s, 3)) for s in (16, 32, 48, 64)] == [16, 32, 48, 64]


def test_conditional_generator():
    g = SNGANGenerator((32, 32, 3), base_features=4, num_classes=3)

    @jax.jit
    def run(z, labels, labels_same):
        variables = g.init(KEY, z, train=False, labels=labels)
        perturbed = jax.tree.map(  # class-specific gamma/beta so that labels matter
            lambda p: p + 0.3 * jax.random.normal(jax.random.key(3), p.shape),
            variables["params"])
        perturbed = {**variables, "params": perturbed}
        return (variables, g.apply(perturbed, z, train=False, labels=labels),
                g.apply(perturbed, z, train=False, labels=labels_same))

    z = jnp.tile(jax.random.normal(jax.random.key(1), (1, Z)), (2, 1))
    variables, x, x_same = run(z, jnp.array([0, 2]), jnp.array([2, 2]))
    cbn = variables["params"]["block_0"]["bn_1"]
    assert cbn["gamma"]["embedding"].shape == (3, 4)
    np.testing.assert_array_equal(cbn["gamma"]["embedding"], 1.0)
    np.testing.assert_array_equal(cbn["beta"]["embedding"], 0.0)
    assert x.shape == (2, 32, 32, 3)
    assert float(jnp.abs(x[0] - x[1]).max()) > 1e-3  # same z, different labels
    np.testing.assert_allclose(x_same[0], x_same[1], atol=2e-5)
    with pytest.raises(ValueError, match="labels"):
        g.init(KEY, z, train=False)


def test_conditional_batch_norm_selects_rows():
    x = jax.random.normal(jax.random.key(0), (4, 3))
    labels = jnp.array([0, 1, 0, 1])
    cbn = ConditionalBatchNorm(num_classes=2)
    variables = cbn.init(jax.random.key(1), x, train=False, labels=labels)
    gamma, beta = jnp.array([[1., 2, 3], [4, 5, 6]]), jnp.array([[0., 0, 0], [1, 1, 1]])
    params = {"gamma": {"embedding": gamma}, "beta": {"embedding": beta}}
    y, _ = cbn.apply({**variables, "params": params}, x, train=True, labels=labels,
                     mutable=["batch_stats"])
    xn = (x - x.mean(0)) / jnp.sqrt(x.var(0) + 2e-5)
    np.testing.assert_allclose(y, xn * gamma[labels] + beta[labels], rtol=1e-4, atol=1e-5)


def test_projection_discriminator():
    """logits = dense(h) + <embed(y), h>: D(x, y) - D(x, y') = <embed(y) - embed(y'), h>."""
    d = SNGANDiscriminator(base_features=4, num_classes=5)

    @jax.jit
    def run(x, y, y2):
        variables = d.init(KEY, x, train=False, labels=y)

        def parts(labels):
            logits, state = d.apply(variables, x, train=False, labels=labels,
                                    capture_intermediates=True, mutable=["intermediates"])
            inter = state["intermediates"]
            h = jnp.sum(jax.nn.relu(inter["block_3"]["__call__"][0]), axis=(1, 2))
            return logits, h, inter["embed"]["__call__"][0], inter["dense"]["__call__"][0][:, 0]
        return variables, parts(y), parts(y2)

    x = jax.random.normal(jax.random.key(1), (3, 32, 32, 3))
    variables, (logits, h, emb, linear), (logits2, h2, emb2, linear2) = run(
        x, jnp.array([0, 1, 2]), jnp.array([4, 1, 3]))
    assert variables["params"]["embed"]["layer"]["embedding"].shape == (5, 4)
    assert "embedding_u" in variables["spectral"]["embed"]
    np.testing.assert_allclose(logits, linear + jnp.sum(emb * h, axis=-1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(h, h2)
    np.testing.assert_array_equal(linear, linear2)
    np.testing.assert_allclose(logits - logits2, jnp.sum((emb - emb2) * h, axis=-1), rtol=1e-4,
                               atol=1e-5)
    assert abs(float(logits[0] - logits2[0])) > 1e-4 and float(logits[1] - logits2[1]) == 0.0
    with pytest.raises(ValueError, match="labels"):
        SNGANDiscriminator(base_features=4).init(KEY, x, train=False, labels=jnp.zeros(3, int))


def test_discriminator_options():
    x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
    sn = jax.eval_shape(lambda: SNGANDiscriminator(base_features=4).init(KEY, x, train=False))
    plain_d = SNGANDiscriminator(base_features=4, spectral_norm=False)
    plain = jax.eval_shape(lambda: plain_d.init(KEY, x, train=False))
    assert set(plain) == {"params"}  # no "spectral" collection, same parameter tree
    assert jax.tree.map(jnp.shape, plain["params"]) == jax.tree.map(jnp.shape, sn["params"])
    std_d = SNGANDiscriminator(base_features=4, stddev_group=2)
    std, logits, _, _ = _init_train_eval(std_d, "spectral")(x)
    assert logits.shape == (4,)
    last = std["params"]["block_3"]
    assert last["conv_1"]["layer"]["kernel"].shape[2] == 5  # 4 features + the stddev channel
    assert "shortcut" in last and "shortcut" not in sn["params"]["block_3"]
    with pytest.raises(ValueError, match="must divide"):
        jax.eval_shape(lambda: SNGANDiscriminator(base_features=4, stddev_group=3).init(
            KEY, x, train=False))
