"""GAN options: conditioning, PacGAN packing, experience replay."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import genmodels
from genmodels.methods import adversarial as gan
from genmodels.train import loop
from genmodels.workdir import read_metrics
from tests.helpers import tiny_gan, tiny_points_gan


def test_pack_concatenates_groups_of_consecutive_examples():
    x = jnp.arange(6 * 2).reshape(6, 2)
    np.testing.assert_array_equal(gan.pack(x, 3), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
    images = jnp.arange(4 * 2 * 2 * 3).reshape(4, 2, 2, 3)
    packed = gan.pack(images, 2)
    assert packed.shape == (2, 2, 2, 6)
    np.testing.assert_array_equal(packed[1, 0, 1], jnp.concatenate([images[2, 0, 1], images[3, 0, 1]]))
    assert gan.pack(x, 1) is x


def test_attach_labels_to_points_and_images():
    labels = jnp.array([0, 2])
    points = gan.attach_labels(jnp.zeros((2, 2)), labels, 3)
    np.testing.assert_array_equal(points, [[0, 0, 1, 0, 0], [0, 0, 0, 0, 1]])
    images = gan.attach_labels(jnp.zeros((2, 4, 4, 1)), labels, 3)
    assert images.shape == (2, 4, 4, 4)
    np.testing.assert_array_equal(images[1, 3, 2], [0, 0, 0, 1])


def test_replay_buffer_mixes_past_fakes_and_wraps_around():
    state = gan.init_replay(4, (1,))
    first = jnp.array([[1.0], [2.0]])
    mixed, state = gan.replay(state, first, jax.random.PRNGKey(0), fraction=0.5)
    np.testing.assert_array_equal(mixed, first)  # Empty buffer: the current fakes are used.
    second = jnp.array([[3.0], [4.0]])
    mixed, state = gan.replay(state, second, jax.random.PRNGKey(1), fraction=0.5)
    assert float(mixed[0, 0]) in (1.0, 2.0) and float(mixed[1, 0]) == 4.0
    _, state = gan.replay(state, jnp.array([[5.0], [6.0]]), jax.random.PRNGKey(2), fraction=0.5)
    np.testing.assert_array_equal(state["buffer"][:, 0], [5, 6, 3, 4])  # Oldest overwritten.
    assert int(state["count"]) == 6


def test_conditional_gan_trains_and_samples_a_row_per_class(tmp_path):
    config = tiny_gan()
    config.model.conditional = True
    loop.train_and_evaluate(config, str(tmp_path))
    model = genmodels.load(str(tmp_path))
    a, b = model.sample(20, seed=0), model.sample(20, seed=0)
    np.testing.assert_array_equal(a, b)
    # Same noise, different classes: the conditioning changes the images.
    variables = model.variables["generator"]
    z = jnp.zeros((2, config.model.latent_dim))
    inputs = gan.attach_labels(z, jnp.array([0, 7]), 10)
    images = gan.build_networks(config, model.info)[0].apply(variables, inputs, train=False)
    assert not np.allclose(images[0], images[1])


@pytest.mark.parametrize("pack, replay", [(2, 0), (1, 32), (4, 16)])
def test_packing_and_replay_train(tmp_path, pack, replay):
    config = tiny_gan(num_steps=4, log_every=2, checkpoint_every=4, sample_every=4)
    config.model.pack = pack
    config.model.replay_size = replay
    state = loop.train_and_evaluate(config, str(tmp_path))
    assert all(np.isfinite(r["loss/discriminator"]) for r in read_metrics(str(tmp_path)))
    if replay:
        assert int(state.collections["discriminator"]["replay"]["count"]) == 4 * 16
    # The discriminator's first layer sees pack * C input channels.
    kernel = jax.tree.leaves(state.params["discriminator"])
    assert any(k.ndim == 4 and k.shape[2] == pack for k in kernel)


def test_gan_option_errors(tmp_path):
    config = tiny_gan()
    config.model.pack = 3  # 16 is not divisible by 3.
    with pytest.raises(ValueError, match="model.pack=3"):
        loop.train_and_evaluate(config, str(tmp_path))
    config = tiny_gan()
    config.data.name = "patches"  # 16x16 photo patches: no class labels.
    config.model.conditional = True
    with pytest.raises(ValueError, match="needs class labels"):
        loop.train_and_evaluate(config, str(tmp_path))


@pytest.mark.parametrize("name", ["ali", "aae"])
def test_inference_methods_train_and_reconstruct(tmp_path, name):
    import importlib

    config = importlib.import_module(f"configs.{name}").get_config()
    config.model.latent_dim = 4
    config.model.encoder_features = (8, 8)
    config.data.batch_size = 16
    config.train.update(dict(num_steps=4, log_every=2, checkpoint_every=4, sample_every=4,
                             tensorboard=False))
    if name == "ali":
        config.model.base_features = 8
        config.model.encoder_dense = 16
        config.model.joint_hidden = 16
    else:
        config.model.decoder_features = (8, 8)
        config.model.dense = 16
        config.model.critic_hidden = (16,)
    loop.train_and_evaluate(config, str(tmp_path))
    records = read_metrics(str(tmp_path), "train")
    assert all(np.isfinite(v) for r in records for k, v in r.items() if k.startswith("loss/"))
    model = genmodels.load(str(tmp_path))
    x = model.sample(3)
    assert x.shape == (3, 8, 8, 1) and x.dtype == np.uint8
    z = model.encode(x)
    assert z.shape == (3, 4)
    np.testing.assert_array_equal(model.reconstruct(x), model.decode(z))


def test_ali_on_points_logs_modes(tmp_path):
    import configs.ali

    config = configs.ali.get_config("ring8")
    config.model.g_hidden = (16, 16)
    config.model.d_hidden = (16,)
    config.train.update(dict(num_steps=2, log_every=1, checkpoint_every=2, sample_every=2,
                             tensorboard=False))
    config.eval.every = 2
    loop.train_and_evaluate(config, str(tmp_path))
    assert read_metrics(str(tmp_path), "eval")[-1]["modes_num_samples"] == 2500
    assert genmodels.load(str(tmp_path)).encode(np.zeros((2, 2), np.float32)).shape == (2, 2)


@pytest.mark.parametrize("conditional", [False, True])
def test_sngan_hinge_on_32px_digits(tmp_path, conditional):
    config = tiny_gan(num_steps=2, log_every=1, checkpoint_every=2, sample_every=2)
    config.data.image_size = 32
    config.model.update(dict(arch="sngan", sngan_g_features=8, sngan_d_features=8,
                             conditional=conditional))
    config.losses.update(dict(discriminator="hinge", generator="hinge"))
    state = loop.train_and_evaluate(config, str(tmp_path))
    assert "spectral" in state.collections["discriminator"]
    assert "batch_stats" in state.collections["generator"]
    samples = genmodels.load(str(tmp_path)).sample(10)
    assert samples.shape == (10, 32, 32, 1)


def test_minibatch_stddev_in_the_mlp_discriminator(tmp_path):
    config = tiny_points_gan()
    config.model.stddev_group = 4
    state = loop.train_and_evaluate(config, str(tmp_path))
    # The output layer sees the 16 hidden features plus the stddev feature.
    out_kernel = [w for w in jax.tree.leaves(state.params["discriminator"]) if w.shape == (17, 1)]
    assert len(out_kernel) == 1
