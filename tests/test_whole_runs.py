"""Whole runs and the CLI contract: experiments.main as a user runs it (kill and resume,
TensorFlow-free runs, config errors, fields a method does not read), and every preset builds
and the paper-scale presets train on mock TFDS data."""

import importlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

import configs.gan
import genmodels
from genmodels import data, methods
from genmodels.train import loop
from genmodels.workdir import read_metrics
from tests.helpers import REPO, flat_params, run_python, tiny_gan, tiny_vae

TINY_VAE_FLAGS = [
    "--config=configs/vae.py", "--config.model.latent_dim=4", "--config.model.encoder_features=(8,)",
    "--config.model.decoder_features=(8,)", "--config.model.dense=16", "--config.data.batch_size=16",
    "--config.train.tensorboard=False", "--config.eval.num_examples=64",
    "--config.eval.batch_size=64", "--config.train.num_steps=1500",
    "--config.train.checkpoint_every=100", "--config.train.log_every=50",
    "--config.train.sample_every=500", "--config.eval.every=500",
]


def _main(workdir, *flags):
    return [sys.executable, "-m", "experiments.main", f"--workdir={workdir}", *TINY_VAE_FLAGS,
            *flags]


def _without_timing(workdir):
    return [{k: v for k, v in r.items() if k not in loop.TIMING_METRICS}
            for r in read_metrics(workdir)]


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    process = subprocess.Popen(_main(killed), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (killed / "checkpoints" / "300").is_dir():  # Orbax renames a finished save here.
        assert process.poll() is None and time.time() < deadline, "run ended before the kill"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted_at = max(int(s) for s in os.listdir(killed / "checkpoints") if s.isdigit())
    assert 300 <= interrupted_at < 1500
    subprocess.run(_main(killed), cwd=REPO, env=env, check=True, capture_output=True)
    subprocess.run(_main(clean), cwd=REPO, env=env, check=True, capture_output=True)
    a, b = genmodels.load(str(killed)), genmodels.load(str(clean))
    assert a.step == b.step == 1500
    np.testing.assert_array_equal(flat_params(a.state), flat_params(b.state))
    assert _without_timing(killed) == _without_timing(clean)


def test_runs_without_tensorflow(tmp_path):
    code = (
        "import sys; sys.modules['tensorflow'] = None  # any 'import tensorflow' now fails\n"
        "import logging; logging.basicConfig(level=logging.WARNING)\n"
        "import genmodels\n"
        "from genmodels.train import loop\n"
        "from tests.helpers import tiny_vae\n"
        "config = tiny_vae(num_steps=2)\n"
        "config.train.tensorboard = True\n"
        f"loop.train_and_evaluate(config, {str(tmp_path)!r})\n"
        "print(genmodels.load(%r).sample(2).shape)\n"
        "assert sys.modules['tensorflow'] is None\n" % str(tmp_path))
    result = run_python(code)
    assert "(2, 8, 8, 1)" in result.stdout
    assert "pip install 'genmodels[tf]'" in result.stderr
    assert not any(name.startswith("events.out") for name in os.listdir(tmp_path))


def test_tensorboard_event_files_with_tensorflow(tmp_path):
    pytest.importorskip("tensorflow")
    config = tiny_gan(num_steps=2)
    config.train.tensorboard = True
    loop.train_and_evaluate(config, str(tmp_path))
    assert any(name.startswith("events.out") for name in os.listdir(tmp_path))


@pytest.mark.parametrize("field, value, message", [
    ("data.name", "cifar11", "data.name to one of: ring8"),
    ("method", "vea", "valid: aae, ae, agave, ali, bgan"),
    ("model.likelihood", "poisson", "model.likelihood"),
    ("model.upsample", "bilinear", "valid"),
    ("optim.name", "adamax", "optim.name"),
    ("model.encoder_features", (8, 8, 8, 8), "model.encoder_features"),
    ("data.batch_size", 15, None),  # Checked against the device count only when > 1 device.
    ("eval.metrics", ("fid_typo",), "eval.metrics"),
])
def test_vae_config_errors_name_the_field(tmp_path, field, value, message):
    config = tiny_vae()
    section, _, key = field.rpartition(".")
    (config[section] if section else config)[key] = value
    if message is None:
        loop.train_and_evaluate(config, str(tmp_path))  # 15 rows split over 1 device is fine.
        return
    with pytest.raises(ValueError, match=message):
        loop.train_and_evaluate(config, str(tmp_path))
    assert not (tmp_path / "checkpoints").exists()  # Failed before training started.


@pytest.mark.parametrize("field, value, message", [
    ("losses.generator", "wasserstein_typo", "valid names: .*non_saturating"),
    ("losses.discriminator", "nope", "losses.discriminator"),
    ("model.arch", "resnet", "model.arch"),
    ("data.name", "ring8", "model.arch='mlp'"),
    ("eval.metrics", ("bpd",), "cannot report 'bpd'"),
])
def test_gan_config_errors_name_the_field(tmp_path, field, value, message):
    config = tiny_gan()
    section, _, key = field.rpartition(".")
    config[section][key] = value
    with pytest.raises(ValueError, match=message):
        loop.train_and_evaluate(config, str(tmp_path))


def test_dcgan_rejects_unsupported_image_size(tmp_path):
    config = tiny_gan()
    config.data.name = "patches"
    config.data.image_size = 12
    with pytest.raises(ValueError, match="data.image_size"):
        loop.train_and_evaluate(config, str(tmp_path))


def test_cli_rejects_unknown_override_and_preset(tmp_path):
    bad_field = subprocess.run(_main(tmp_path, "--config.train.num_stepz=3"), cwd=REPO,
                               capture_output=True, text=True)
    assert bad_field.returncode == 2 and "Traceback" not in bad_field.stderr
    assert bad_field.stderr.startswith("Error: --config.train.num_stepz: configs/vae.py has no "
                                       "field 'train.num_stepz'; did you mean train.num_steps")
    assert len(bad_field.stderr.splitlines()) <= 3
    bad_preset = subprocess.run(
        [sys.executable, "-m", "experiments.main", "--config=configs/gan.py:cifar100",
         f"--workdir={tmp_path}"], cwd=REPO, capture_output=True, text=True)
    assert bad_preset.returncode == 2 and (
        "valid presets: cifar10, default, digits, grid25, grid25_plain, grid25_protocol, ring8, "
        "ring8_plain, ring8_protocol, "
        "sngan_cifar10") in bad_preset.stderr
    assert len(bad_preset.stderr.splitlines()) <= 3
    traced = subprocess.run(_main(tmp_path, "--config.train.num_stepz=3", "--traceback"),
                            cwd=REPO, capture_output=True, text=True)
    assert traced.returncode != 0 and "Traceback (most recent call last)" in traced.stderr


def test_a_field_the_method_does_not_read_is_refused_naming_field_and_method(tmp_path):
    """ALI inherits the GAN's generator but has no gradient penalty: --config.losses.penalty on
    ALI fails before anything is built or written, naming the field and the method."""
    result = subprocess.run(
        [sys.executable, "-m", "experiments.main", "--config=configs/ali.py",
         f"--workdir={tmp_path / 'w'}", "--config.losses.penalty=r1"],
        cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "losses.penalty" in result.stderr and "method 'ali' does not read" in result.stderr
    assert not (tmp_path / "w").exists()


def test_methods_build_refuses_fields_the_method_does_not_read():
    """The same check on a config built in Python: a GAN config relabelled as ALI keeps the
    GAN-only fields, and methods.build names every one with the method."""
    config = configs.gan.get_config("ring8_plain")
    config.method = "ali"
    with pytest.raises(ValueError) as error:
        methods.build(config, data.get_info(config.data))
    message = str(error.value)
    for field in ("losses.penalty", "model.pack", "model.ema_decay", "losses.weight_clip"):
        assert field in message
    assert "not read by method 'ali'" in message
    for name in ("ali", "bgan", "gan"):  # The shipped configs pass the check.
        config = importlib.import_module(f"configs.{name}").get_config("ring8")
        methods.build(config, data.get_info(config.data))


# -- every preset builds; the paper-scale presets train on mock TFDS data --

PRESETS = {"vae": ("default", "cifar10"),
           "gan": ("default", "digits", "ring8", "grid25", "ring8_plain", "grid25_plain",
                   "ring8_protocol", "grid25_protocol", "cifar10"),
           "bgan": ("ring8", "grid25", "ring8_protocol", "grid25_protocol"),
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
