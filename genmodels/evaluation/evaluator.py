"""The Evaluator: the families of eval.metrics for one method, dataset and mesh."""

import jax

from genmodels import data, parallel
from genmodels.evaluation.registry import FAMILIES, METRIC_FAMILIES, Family, check_metrics
from genmodels.methods.base import Method


class Evaluator:
    """The metrics of eval.metrics for one method, dataset and mesh.

    `evaluator(variables, rng)` returns numeric results (for metrics.jsonl and TensorBoard);
    `evaluator.metadata` then holds the strings that describe them (reference set, features).
    Everything the config gets wrong fails here, before training or compilation."""

    def __init__(self, method: Method, config, mesh):
        self.method, self.config, self.mesh = method, config, mesh
        self.info = data.get_info(config.data)
        self.names = tuple(config.eval.metrics)
        check_metrics(self.names, method, self.info)
        parallel.check_batch_size(config.eval.batch_size, "eval.batch_size", mesh)
        self.families: dict[str, Family] = {}
        for name, cls in FAMILIES.items():
            wanted = tuple(n for n in self.names if METRIC_FAMILIES[n] == name)
            if wanted:
                self.families[name] = cls(method, config, mesh, wanted, self.info)
        self.metadata: dict = {}

    def family(self, name: str) -> Family:
        """The evaluator of one requested family (e.g. "disentanglement")."""
        if name not in self.families:
            raise KeyError(f"Family {name!r} is not evaluated (eval.metrics={self.names}); "
                           f"evaluated: {sorted(self.families)}.")
        return self.families[name]

    def __call__(self, variables, rng, split: str = "test") -> dict:
        results = {}
        for family in self.families.values():
            key = jax.random.fold_in(rng, family.rng_index) if family.rng_index else rng
            results.update(family(variables, key, split))
            self.metadata.update(family.metadata)
        return results
