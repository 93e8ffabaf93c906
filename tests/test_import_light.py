"""The import-light core: genmodels trains, evaluates and samples on an embedded dataset when
tensorflow-datasets, clu and TensorFlow are not installed, and names the extra when one is needed.

The subprocess marks those packages absent with `sys.modules[name] = None`, which is how Python
records a module that cannot be imported: `import tensorflow` raises ImportError and
`importlib.util.find_spec("tensorflow")` returns None, as on an image without them.
"""

import pytest

from tests.helpers import run_python

BLOCKED = ("tensorflow", "tensorflow_datasets", "clu", "tensorboard")

MAIN_FLAGS = [
    "--config=configs/vae.py", "--config.model.latent_dim=4",
    "--config.model.encoder_features=(8,)", "--config.model.decoder_features=(8,)",
    "--config.model.dense=16", "--config.data.batch_size=16", "--config.train.num_steps=4",
    "--config.train.log_every=2", "--config.train.checkpoint_every=4",
    "--config.train.sample_every=4", "--config.eval.every=4", "--config.eval.num_examples=32",
    "--config.eval.batch_size=32", "--config.eval.iwae_k=2",
]

CODE = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
import runpy
workdir = sys.argv[1]
sys.argv = ["experiments.main", "--workdir=" + workdir, *sys.argv[2:]]
try:
    runpy.run_module("experiments.main", run_name="__main__")  # TensorBoard left on (default).
except SystemExit as e:
    assert not e.code, e.code
import genmodels
from genmodels import api, data
print("EVAL", api.evaluate_checkpoint(workdir, metrics=["bpd"]))
print("SAMPLES", genmodels.load(workdir).sample(2).shape)
config = api.load_config(workdir).data
config.name = "cifar10"
print("CIFAR_INFO", data.get_info(config).shape)
try:
    data.get_source(config, "train")
except ImportError as e:
    print("TFDS_ERROR", e)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r}
                and sys.modules[m] is not None)
print("LOADED", loaded)
"""


@pytest.fixture(scope="module")
def light_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("light")
    result = run_python(CODE.format(blocked=BLOCKED), str(workdir), *MAIN_FLAGS)
    return workdir, result


def test_trains_evaluates_and_samples_without_tf_tfds_clu(light_run):
    workdir, result = light_run
    assert "LOADED []" in result.stdout
    assert (workdir / "checkpoints" / "4").is_dir()
    assert "'step': 4" in result.stdout and "'bpd':" in result.stdout
    assert "SAMPLES (2, 8, 8, 1)" in result.stdout
    assert not any(p.name.startswith("events.out") for p in workdir.iterdir())
    assert "pip install 'genmodels[tf]'" in result.stderr  # TensorBoard says how to get it.


def test_tfds_dataset_names_the_extra_without_tfds(light_run):
    _, result = light_run
    assert "CIFAR_INFO (32, 32, 3)" in result.stdout  # Shapes need no tfds.
    assert "TFDS_ERROR" in result.stdout
    assert "pip install 'genmodels[tfds]'" in result.stdout
