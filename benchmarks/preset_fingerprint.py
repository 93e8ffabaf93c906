"""Fingerprint of every method's default preset: a few train steps at a fixed seed, then its own
evaluation metrics, written as JSON. Two checkouts that compute the same maths give the same
file (refactors are checked this way: run it before and after, then diff).

    python -m benchmarks.preset_fingerprint --out=/tmp/after.json [--steps=20]

It reads only W/metrics.jsonl (the workdir contract), so it also runs on older checkouts.
"""

import importlib
import json
import os
import tempfile

from absl import app, flags

CONFIGS = ("vae", "betavae", "ae", "rae", "flow", "pixelcnn", "agave", "gan", "bgan", "ali",
           "aae", "hybrid", "idgan")
TIMING = ("steps_per_sec", "examples_per_sec", "input_wait_fraction")

_OUT = flags.DEFINE_string("out", None, "Output JSON.", required=True)
_STEPS = flags.DEFINE_integer("steps", 20, "Train steps per preset.")
_ONLY = flags.DEFINE_list("only", list(CONFIGS), "Configs to run.")


def shrink(config, steps: int) -> None:
    """A few steps with a final evaluation of the preset's own metrics on small sample counts."""
    config.train.update(num_steps=steps, log_every=steps, checkpoint_every=steps,
                        sample_every=steps, num_sample_images=4, tensorboard=False,
                        compilation_cache_dir="")
    config.eval.update(every=steps, num_examples=256, num_samples=256, num_real=512,
                       classifier_steps=50, prdc_num_samples=256, kid_subset_size=100,
                       kid_subsets=10, disentanglement_num_examples=512,
                       disentanglement_num_train=256, disentanglement_num_eval=128)
    if "stage1" in config:
        shrink(config.stage1, steps)


def fingerprint(name: str, steps: int) -> list[dict]:
    from genmodels.train import loop  # noqa: PLC0415 (after flags: heavy import)

    config = importlib.import_module(f"configs.{name}").get_config()
    shrink(config, steps)
    with tempfile.TemporaryDirectory() as workdir:
        loop.train_and_evaluate(config, workdir)
        with open(os.path.join(workdir, "metrics.jsonl")) as f:
            records = [json.loads(line) for line in f if line.strip()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def main(_):
    results = {name: fingerprint(name, _STEPS.value) for name in _ONLY.value}
    with open(_OUT.value, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    print(f"wrote {_OUT.value}")


if __name__ == "__main__":
    app.run(main)
