"""The FID InceptionV3: structure, preprocessing, the weight converter and the missing-weights
error, with random weights (the real ones: tests/evaluation/test_inception_weights.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genmodels.metrics import inception
from genmodels.metrics import inception_convert as convert

# Independent of our code: torchvision's inception_v3 has 27,161,264 parameters, of which
# AuxLogits holds 3,326,696; the FID variant has no AuxLogits and 1008 classes (+8 * 2049).
FID_INCEPTION_PARAMS = 27_161_264 - 3_326_696 + 8 * 2049
TORCH_SHAPES = {  # pytorch-fid state-dict names and shapes (torch layouts)
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
    "Conv2d_4a_3x3.bn.running_var": (192,),
    "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
    "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
    "Mixed_6e.branch7x7dbl_4.conv.weight": (192, 192, 7, 1),
    "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
    "Mixed_7b.branch3x3_2a.bn.running_mean": (384,),
    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
    "fc.weight": (1008, 2048),
    "fc.bias": (1008,),
}


@pytest.fixture(scope="module")
def random_tree():
    rng = np.random.default_rng(0)
    return convert._nest({k: rng.standard_normal(s).astype(np.float32)
                          for k, s in convert.expected_shapes().items()})


def test_architecture_matches_pytorch_fid_layer_counts():
    shapes = convert.expected_shapes()
    convs = [k for k in shapes if k[-2:] == ("conv", "kernel")]
    trainable = sum(int(np.prod(s)) for k, s in shapes.items()
                    if k[-1] in ("kernel", "scale", "bias"))
    assert len(convs) == 94  # BasicConv2d layers of Inception3 without AuxLogits
    assert trainable == FID_INCEPTION_PARAMS


def test_runs_on_two_images_with_random_weights():
    params = inception.init_params(seed=0, image_size=32)
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    apply = jax.jit(inception.InceptionV3().apply)
    out = apply({"params": params}, images)
    assert out["pool3"].shape == (2, 2048) and out["logits"].shape == (2, 1008)
    assert np.all(np.isfinite(out["pool3"])) and np.all(np.asarray(out["pool3"]) >= 0)
    assert not np.allclose(out["pool3"][0], out["pool3"][1])
    grey = apply({"params": params}, images[..., :1])
    rgb_of_grey = apply({"params": params}, np.repeat(images[..., :1], 3, -1))
    np.testing.assert_allclose(grey["pool3"], rgb_of_grey["pool3"], rtol=1e-5, atol=1e-6)


def test_resize_is_bilinear_with_half_pixel_centres_and_no_antialiasing():
    x = jnp.asarray(np.random.default_rng(1).uniform(0, 255, (1, 13, 17, 2)), jnp.float32)
    up = inception.resize_bilinear(x)
    np.testing.assert_allclose(
        up, jax.image.resize(x, (1, 299, 299, 2), "linear", antialias=False), atol=1e-3)
    big = jnp.asarray(np.random.default_rng(2).uniform(0, 255, (1, 640, 500, 1)), jnp.float32)
    down = jax.image.scale_and_translate(big, (1, 299, 299, 1), (1, 2),
                                         jnp.array([299 / 640, 299 / 500]), jnp.zeros(2),
                                         "linear", antialias=False)
    np.testing.assert_allclose(inception.resize_bilinear(big), down, atol=0.05)  # f32 weights
    white = jnp.full((1, 299, 299, 3), 255, jnp.uint8)
    np.testing.assert_allclose(inception.preprocess(white, "torch"), 1.0)  # 2 * x / 255 - 1
    np.testing.assert_allclose(inception.preprocess(white), 127 / 128)  # TF: (x - 128) / 128
    for scaling in inception.SCALINGS:
        np.testing.assert_allclose(
            inception.preprocess(jnp.zeros((1, 8, 8, 1), jnp.uint8), scaling), -1.0)


def test_average_pool_ignores_padding_and_max_pool_pads_with_minus_infinity():
    x = jnp.arange(16, dtype=jnp.float32).reshape(1, 4, 4, 1)
    avg = inception.avg_pool_exclude_pad(x)
    assert float(avg[0, 0, 0, 0]) == pytest.approx(np.mean([0, 1, 4, 5]))
    assert float(avg[0, 1, 1, 0]) == pytest.approx(np.mean([0, 1, 2, 4, 5, 6, 8, 9, 10]))
    neg = -1.0 - x
    assert float(inception.max_pool(neg, 3, 1, 1)[0, 0, 0, 0]) == -1.0


def test_converter_round_trips_a_synthetic_pytorch_fid_file(tmp_path, random_tree):
    torch_dict = convert.tree_to_torch(random_tree)
    assert len(torch_dict) == 94 * 5 + 2  # conv weight + 4 batch-norm arrays each, fc
    for name, shape in TORCH_SHAPES.items():
        assert torch_dict[name].shape == shape, name
    src, dst = tmp_path / "pt_inception.npz", tmp_path / "ours.npz"
    np.savez(src, **torch_dict, **{"Conv2d_1a_3x3.bn.num_batches_tracked": np.array(0)})
    convert.main([f"--src={src}", f"--dst={dst}"])
    loaded = convert.load_params(str(dst))
    flat_in, flat_out = convert._flatten(random_tree), convert._flatten(loaded)
    assert flat_in.keys() == flat_out.keys()
    for key in flat_in:
        np.testing.assert_array_equal(flat_in[key], flat_out[key])
    # Layouts: our kernel[i, j, c, o] is torch's weight[o, c, i, j]; fc is transposed.
    w = torch_dict["Mixed_6b.branch7x7_2.conv.weight"]
    kernel = loaded["Mixed_6b"]["branch7x7_2"]["conv"]["kernel"]
    assert kernel[0, 5, 3, 7] == w[7, 3, 0, 5]
    np.testing.assert_array_equal(loaded["fc"]["kernel"], torch_dict["fc.weight"].T)
    bn = loaded["Mixed_7b"]["branch3x3_2a"]["bn"]
    np.testing.assert_array_equal(bn["mean"], torch_dict["Mixed_7b.branch3x3_2a.bn.running_mean"])


def test_converter_rejects_incomplete_or_foreign_state_dicts(tmp_path, random_tree):
    torch_dict = convert.tree_to_torch(random_tree)
    del torch_dict["Mixed_7c.branch_pool.conv.weight"]
    with pytest.raises(ValueError, match="missing.*Mixed_7c/branch_pool/conv/kernel"):
        convert.torch_to_tree(torch_dict)
    with pytest.raises(ValueError, match="AuxLogits"):
        convert.torch_to_tree({**convert.tree_to_torch(random_tree),
                               "AuxLogits.fc.weight": np.zeros((1000, 768))})
    pth = tmp_path / "weights.pth"
    pth.write_bytes(b"not really")
    try:
        import torch  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="needs PyTorch"):
            convert.read_state_dict(str(pth))


def test_missing_weights_error_says_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(inception, "packaged_weights", lambda: None)  # as without the extra
    with pytest.raises(inception.MissingInceptionWeightsError) as info:
        inception.require_weights(str(tmp_path / "nope.npz"))
    message = str(info.value)
    for needle in ("nope.npz", "pt_inception-2015-12-05", "inception_convert",
                   "eval.inception_weights", inception.WEIGHTS_ENV, 'genmodels[fid]'):
        assert needle in message
    weights = tmp_path / "w.npz"
    weights.write_bytes(b"")
    monkeypatch.setenv(inception.WEIGHTS_ENV, str(weights))
    assert inception.weights_path(None) == str(weights)
    assert inception.weights_path(str(tmp_path / "nope.npz")) == str(weights)
