"""Where the hybrid's generated samples go under the adversarial term (issue 27, docs/hybrid.md
"Stability"): short runs of configs/hybrid.py that log, every few steps, how far the samples
x_hat = f^{-1}(mu(z)) leave the image range (fake_abs_max, fake_overflow), what D says of them
(d_fake) and the train bpd, and the first step with a non-finite value, if any.

  python -m benchmarks.hybrid_stability --steps=300 \
      --variants="losses.adversarial_weight=0.1;model.flow.coupling=affine" \
      --variants="losses.adversarial_weight=0.1"

Each --variants is one run: ';'-separated FIELD=VALUE overrides of the default preset (type-checked
as the sweeps check them). Seed 0, the preset's batch size, in-process train steps (no checkpoints,
no evaluation). Writes benchmarks/results/hybrid_stability.json (--name).
"""

import math

import jax
import jax.numpy as jnp
from absl import app, flags

import configs.hybrid
from benchmarks import common
from genmodels import data, methods
from genmodels.train.state import init_train_state
from genmodels.train.step import make_train_step

_STEPS = flags.DEFINE_integer("steps", 300, "Train steps per run.")
_EVERY = flags.DEFINE_integer("every", 25, "Record every this many steps.")
_VARIANTS = flags.DEFINE_multi_string("variants", [""], "One run per flag: ';'-separated "
                                      "FIELD=VALUE overrides of configs/hybrid.py.")
_NAME = flags.DEFINE_string("name", "hybrid_stability", "Results file name.")
RECORDED = ("bpd", "adversarial", "d_fake", "fake_abs_max", "fake_overflow",
            "grad_norm/generator")


def trace(config, steps: int, every: int) -> dict:
    """Trains `steps` steps; returns the recorded metrics and the first non-finite step."""
    method = methods.build(config, data.get_info(config.data))
    batches = data.train_batches(config.data, batch_size=config.data.batch_size, seed=0)
    state = init_train_state(method, jax.random.PRNGKey(config.seed),
                             jax.tree.map(jnp.asarray, next(batches)))
    step = jax.jit(make_train_step(method))
    records, first_nonfinite = [], None
    for i in range(1, steps + 1):
        state, metrics = step(state, jax.tree.map(jnp.asarray, next(batches)))
        values = {k: float(v) for k, v in metrics.items() if k in RECORDED}
        finite = all(math.isfinite(v) for v in values.values())
        if i % every == 0 or not finite:
            records.append({"step": i, **values})
        if not finite:
            first_nonfinite = i
            break
    return {"first_nonfinite_step": first_nonfinite, "records": records,
            "max_fake_overflow": max(r.get("fake_overflow", 0.0) for r in records)}


def main(argv):
    del argv
    runs = {}
    for variant in _VARIANTS.value:
        config = common.with_variant(configs.hybrid.get_config(), variant)
        runs[variant or "default"] = trace(config, _STEPS.value, _EVERY.value)
        r = runs[variant or "default"]
        print(f"{variant or 'default'}: first non-finite step {r['first_nonfinite_step']}, "
              f"max fake_overflow {r['max_fake_overflow']:.3f}, last {r['records'][-1]}",
              flush=True)
    print("wrote", common.write_results(_NAME.value, {
        "command": "python -m benchmarks.hybrid_stability --steps=%d --every=%d %s" % (
            _STEPS.value, _EVERY.value,
            " ".join(f'--variants="{v}"' for v in _VARIANTS.value)),
        "steps": _STEPS.value, "runs": runs}))


if __name__ == "__main__":
    app.run(main)
