"""Every config preset builds, and the paper-scale presets train on mock TFDS data."""

import importlib

import pytest
import tensorflow_datasets as tfds

from genmodels import data, methods
from genmodels.train import loop
from genmodels.workdir import read_metrics

PRESETS = {"vae": ("default", "cifar10"),
           "gan": ("default", "digits", "ring8", "grid25", "ring8_protocol", "grid25_protocol",
                   "cifar10"),
           "bgan": ("ring8_protocol", "grid25_protocol"),
           "ali": ("default", "ring8", "grid25"), "aae": ("default",)}


@pytest.mark.parametrize("name, preset", [(n, p) for n, ps in PRESETS.items() for p in ps])
def test_preset_builds_its_method(name, preset):
    config = importlib.import_module(f"configs.{name}").get_config(preset)
    with tfds.testing.mock_data(num_examples=4):
        method = methods.build(config, data.get_info(config.data))
    assert method.name == config.method


@pytest.mark.parametrize("name", ["vae", "gan"])
def test_cifar10_preset_trains_two_steps_on_mock_data(tmp_path, name):
    config = importlib.import_module(f"configs.{name}").get_config("cifar10")
    config.train.update(num_steps=2, log_every=1, checkpoint_every=2, sample_every=2,
                        num_sample_images=4, tensorboard=False)
    config.eval.batch_size = 16
    with tfds.testing.mock_data(num_examples=16):
        loop.train_and_evaluate(config, str(tmp_path))
    records = read_metrics(str(tmp_path), "train")
    assert [r["step"] for r in records] == [1, 2]
    assert (tmp_path / "samples" / "step_00000002.png").exists()
    if name == "vae":
        assert read_metrics(str(tmp_path), "eval")[-1]["num_examples"] == 16
