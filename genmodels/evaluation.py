"""Evaluation metrics chosen by name (`eval.metrics`), shared by training, evaluate and load."""

import jax
import jax.numpy as jnp
import numpy as np

from genmodels import data
from genmodels.methods.base import Method, sampling_variables
from genmodels.metrics import mode_coverage
from genmodels.train import parallel

# Metric name -> family. A method lists the names it supports in Method.metrics.
_LIKELIHOOD, _MODES = "likelihood", "modes"
METRIC_FAMILIES = {"bpd": _LIKELIHOOD, "modes": _MODES}
MODE_SAMPLES = 2500  # The VEEGAN/PacGAN protocol draws 2,500 samples.


def check_metrics(names, method: Method) -> None:
    """Fails before training if `eval.metrics` names an unknown or unsupported metric."""
    for name in names:
        if name not in METRIC_FAMILIES:
            raise ValueError(f"Unknown metric {name!r} in eval.metrics; valid metrics: "
                             f"{', '.join(sorted(METRIC_FAMILIES))}.")
        if name not in method.metrics:
            raise ValueError(f"Method {method.name!r} (as configured) cannot report {name!r}; "
                             f"it supports {list(method.metrics)}. Leave it out of eval.metrics "
                             "(--config.eval.metrics for training, --metrics for "
                             "experiments.evaluate).")


class Evaluator:
    """The metrics of eval.metrics: test-split means of a method's per-example likelihood terms
    ("bpd"), and mode coverage of samples on 2-D mixtures ("modes")."""

    def __init__(self, method: Method, config, mesh):
        self.method, self.config, self.mesh = method, config, mesh
        self.info = data.get_info(config.data)
        self.names = tuple(config.eval.metrics)
        check_metrics(self.names, method)
        parallel.check_batch_size(config.eval.batch_size, "eval.batch_size", mesh)
        self._batch_sums = jax.jit(
            self._sums, in_shardings=(parallel.replicated(mesh), parallel.data_sharding(mesh),
                                      parallel.replicated(mesh)),
            out_shardings=parallel.replicated(mesh))
        self._sample = None

    def _sums(self, variables, batch, rng):
        values = self.method.eval_fn(variables, batch, rng)
        mask = batch["mask"].astype(jnp.float32)
        return {k: jnp.sum(v * mask) for k, v in values.items()}, jnp.sum(mask)

    def __call__(self, variables, rng, split: str = "test") -> dict:
        results = {}
        families = {METRIC_FAMILIES[n] for n in self.names}
        if _LIKELIHOOD in families:
            results.update(self._likelihood(variables, rng, split))
        if _MODES in families:
            results.update(self._modes(variables, jax.random.fold_in(rng, 1)))
        return results

    def _modes(self, variables, rng) -> dict:
        if self._sample is None:
            self._sample = jax.jit(self.method.sample, static_argnums=2,
                                   out_shardings=parallel.replicated(self.mesh))
        samples = parallel.to_host(self._sample(
            sampling_variables(self.method, variables), rng, MODE_SAMPLES))
        return mode_coverage(samples, self.info.modes, self.info.mode_std)

    def _likelihood(self, variables, rng, split: str) -> dict:
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
