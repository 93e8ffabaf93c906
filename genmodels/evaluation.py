"""Evaluation metrics chosen by name (`eval.metrics`), shared by training, evaluate and load."""

import jax
import jax.numpy as jnp
import numpy as np

from genmodels import data
from genmodels.methods.base import Method
from genmodels.train import parallel

# Metric family -> the Method attribute it needs. Later issues add sample-based families.
_LIKELIHOOD = "likelihood"
METRIC_FAMILIES = {"bpd": _LIKELIHOOD}


def check_metrics(names, method: Method) -> None:
    """Fails before training if `eval.metrics` names an unknown or unsupported metric."""
    for name in names:
        if name not in METRIC_FAMILIES:
            raise ValueError(f"Unknown metric {name!r} in eval.metrics; valid metrics: "
                             f"{', '.join(sorted(METRIC_FAMILIES))}.")
        if name not in method.metrics:
            raise ValueError(f"Method {method.name!r} (as configured) cannot report {name!r}; "
                             f"it supports {list(method.metrics)}. Remove it from eval.metrics, "
                             "e.g. --config.eval.metrics='()'.")


class Evaluator:
    """Masked means over the test split of a method's per-example likelihood metrics."""

    def __init__(self, method: Method, config, mesh):
        self.method, self.config, self.mesh = method, config, mesh
        self.names = tuple(config.eval.metrics)
        check_metrics(self.names, method)
        parallel.check_batch_size(config.eval.batch_size, "eval.batch_size", mesh)
        self._batch_sums = jax.jit(
            self._sums, in_shardings=(parallel.replicated(mesh), parallel.data_sharding(mesh),
                                      parallel.replicated(mesh)),
            out_shardings=parallel.replicated(mesh))

    def _sums(self, variables, batch, rng):
        values = self.method.eval_fn(variables, batch, rng)
        mask = batch["mask"].astype(jnp.float32)
        return {k: jnp.sum(v * mask) for k, v in values.items()}, jnp.sum(mask)

    def __call__(self, variables, rng, split: str = "test") -> dict:
        if not any(METRIC_FAMILIES[n] == _LIKELIHOOD for n in self.names):
            return {}
        sharding = parallel.data_sharding(self.mesh)
        totals, count = None, 0.0
        batches = data.eval_batches(self.config.data, split, batch_size=self.config.eval.batch_size,
                                    max_examples=self.config.eval.num_examples)
        for i, local in enumerate(batches):
            sums, n = self._batch_sums(variables, parallel.global_batch(local, sharding),
                                       jax.random.fold_in(rng, i))
            sums, n = parallel.to_host((sums, n))
            totals = sums if totals is None else {k: totals[k] + sums[k] for k in sums}
            count += float(n)
        results = {k: float(v / count) for k, v in totals.items()}
        results["num_examples"] = int(count)
        return results


def nonfinite_terms(metrics: dict) -> list[str]:
    return sorted(k for k, v in metrics.items() if not np.all(np.isfinite(np.asarray(v))))
