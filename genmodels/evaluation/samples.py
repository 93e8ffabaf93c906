"""Sample family: Fréchet distance, KID, IS, precision, recall, density and coverage of
eval.num_samples samples against cached reference features (genmodels.metrics.features).

Names never mislead (docs/evaluation.md, "Metric keys and feature spaces"): `eval.metrics`
requests fid / kid / is; they are reported under `fid`, `kid`, `is` on the Inception network
only, and under `fd_<space>`, `kid_<space>`, `is_<space>` in any other feature space
(`classifier`, `randconv`). precision / recall / density / coverage keep their names and the eval
JSON records their space in `prdc_features`.
"""

import math

import jax
import numpy as np

from genmodels import parallel
from genmodels.evaluation import common
from genmodels.evaluation.registry import Family, register
from genmodels.methods.base import sampling_variables
from genmodels.metrics import features as features_lib
from genmodels.metrics import fid as fid_lib
from genmodels.metrics import inception
from genmodels.metrics.prdc import DC_METRICS, PR_METRICS, prdc_metrics
from genmodels.metrics.names import SAMPLE_METRICS

# eval.features kind -> the name of its feature space in metric keys and prdc_features.
FEATURE_SPACES = {"inception": "inception", "classifier": "classifier", "random": "randconv"}
_KEY_PREFIXES = {"fid": "fd", "kid": "kid", "is": "is"}
PRDC_SEED_KEY = 0x5eed  # Mixed with config.seed into the seed of the k-NN metrics' subsets.


def result_key(name: str, kind: str) -> str:
    """The key under which metric request `name` is reported when computed with feature
    extractor `kind` (eval.features resolved): fid/kid/is keep their names on "inception" only,
    e.g. result_key("fid", "random") == "fd_randconv"; other names are returned unchanged."""
    if name not in _KEY_PREFIXES or kind == "inception":
        return name
    return f"{_KEY_PREFIXES[name]}_{FEATURE_SPACES[kind]}"


@register
class Samples(Family):
    name = "samples"
    metrics = SAMPLE_METRICS
    rng_index = 2
    implied = True  # Method.sample is required: every method has these.
    reported_as = {result_key(n, kind): n for n in _KEY_PREFIXES for kind in FEATURE_SPACES
                   if result_key(n, kind) != n and (n, kind) != ("is", "random")}

    @staticmethod
    def requirement(method, info):
        if info is not None and info.kind != "image":
            return "sample-based image metrics need an image dataset"
        return None

    def __init__(self, method, config, mesh, names, info):
        super().__init__(method, config, mesh, names, info)
        parallel.check_batch_size(config.eval.feature_batch_size, "eval.feature_batch_size",
                                  mesh)
        self.feature_kind = features_lib.resolve_kind(config.eval, info)
        if self.feature_kind == "inception":
            inception.require_weights(config.eval.inception_weights, "is" in names)
        if "is" in names and self.feature_kind == "random":
            raise ValueError(f"Metric 'is' needs class logits, but dataset {info.name!r} uses "
                             "the random-weight feature network (no labels or factors); drop "
                             "'is' or set eval.features='inception' (RGB >= 32 px).")
        if config.eval.num_samples < 2:
            raise ValueError("eval.num_samples must be >= 2.")
        self._sample = common.jit_sample(method, parallel.data_sharding(mesh))
        self._extractor = self._apply_features = self._reference = None

    def key(self, name: str) -> str:
        return result_key(name, self.feature_kind)

    def _features(self):
        if self._extractor is None:
            self._extractor = features_lib.make_extractor(self.config, self.info,
                                                          self.feature_kind)
            self._apply_features = features_lib.jit_extractor(self._extractor, self.mesh)
            self._reference = features_lib.reference_features(
                self.config, self.info, self._extractor, self._apply_features, self.mesh)
        return self._extractor, self._apply_features, self._reference

    def _sample_batches(self, variables, rng, num: int, batch_size: int):
        variables = sampling_variables(self.method, variables)
        for i in range(math.ceil(num / batch_size)):
            mask = np.arange(batch_size) < num - i * batch_size
            yield self._sample(variables, jax.random.fold_in(rng, i), batch_size), mask

    def sample_features(self, variables, rng) -> dict:
        """{"features", "logits"?} of eval.num_samples samples (streamed batch by batch)."""
        _, apply_fn, _ = self._features()
        num, batch = self.config.eval.num_samples, self.config.eval.feature_batch_size
        return features_lib.extract(apply_fn, self._sample_batches(variables, rng, num, batch),
                                    math.ceil(num / batch), "sample features")

    def __call__(self, variables, rng, split):
        extractor, _, ref = self._features()
        fake = self.sample_features(variables, rng)
        real, n_fake, n_real = ref["features"], len(fake["features"]), int(ref["num"])
        names, cfg, results = self.names, self.config.eval, {}
        if "fid" in names:
            key = self.key("fid")
            results.update({key: fid_lib.frechet_distance(
                ref["mu"], ref["sigma"], *fid_lib.statistics(fake["features"])),
                f"{key}_num_samples": n_fake, f"{key}_num_real": n_real})
        if "is" in names:
            key = self.key("is")
            mean, std = fid_lib.inception_score(fake["logits"], cfg.is_splits)
            results.update({key: mean, f"{key}_std": std, f"{key}_num_samples": n_fake})
        if "kid" in names:
            key = self.key("kid")
            mean, std = fid_lib.kernel_inception_distance(
                real, fake["features"], cfg.kid_subsets, cfg.kid_subset_size,
                seed=self.config.seed)
            results.update({key: mean, f"{key}_std": std, f"{key}_num_samples": n_fake,
                            f"{key}_num_real": n_real})
        results.update(prdc_metrics(real, fake["features"], names, cfg.prdc_num_samples,
                                    cfg.pr_k, cfg.dc_k, (self.config.seed, PRDC_SEED_KEY)))
        self.metadata.update(fid_reference=ref["reference"], features=extractor.name,
                             features_kind=extractor.kind)
        if set(PR_METRICS + DC_METRICS) & set(names):
            self.metadata["prdc_features"] = FEATURE_SPACES[extractor.kind]
        if "test_accuracy" in extractor.details:
            self.metadata["features_test_accuracy"] = extractor.details["test_accuracy"]
        return results
