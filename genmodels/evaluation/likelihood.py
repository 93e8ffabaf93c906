"""Likelihood family: test-split means of the method's per-example terms (Method.eval_fn):
bpd, elbo, kl, recon, and whatever else eval_fn returns (bpd_elbo, iwae_k, ...)."""

from genmodels.evaluation import common
from genmodels.evaluation.registry import Family, register
from genmodels.metrics.names import LIKELIHOOD_METRICS


@register
class Likelihood(Family):
    name = "likelihood"
    metrics = LIKELIHOOD_METRICS
    rng_index = 0

    @staticmethod
    def requirement(method, info):
        return None if method.eval_fn is not None else "it has no eval_fn()"

    def __init__(self, method, config, mesh, names, info):
        super().__init__(method, config, mesh, names, info)
        self._sums = common.jit_batch_sums(method.eval_fn, mesh)

    def __call__(self, variables, rng, split):
        totals, count = common.accumulate(self._sums, variables, rng, split, self.config,
                                          self.mesh)
        results = {k: float(v / count) for k, v in totals.items()}
        results["num_examples"] = int(count)
        return results
