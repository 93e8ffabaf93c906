"""Evaluation metrics chosen by name (`eval.metrics`), shared by training, evaluate and load.

Families (docs/evaluation.md):
- likelihood: test-split means of the method's per-example terms (eval_fn): bpd, elbo, kl, recon;
- modes: mode coverage of samples on the 2-D mixtures;
- samples: fid, is, kid, precision, recall, density, coverage on eval.num_samples samples
  against cached reference features (genmodels.metrics.features);
- reconstruction: psnr, ms_ssim of test images against method.reconstruct;
- disentanglement: mig, sap, dci_disentanglement, beta_vae_score, factorvae_score of
  method.encode on a dataset with ground-truth factors.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from genmodels import data
from genmodels.methods.base import Method, sampling_variables
from genmodels.metrics import fid as fid_lib
from genmodels.metrics import features as features_lib
from genmodels.metrics import inception, mode_coverage
from genmodels import parallel

_LIKELIHOOD, _MODES = "likelihood", "modes"
_SAMPLES, _RECONSTRUCTION, _DISENTANGLEMENT = "samples", "reconstruction", "disentanglement"
SAMPLE_METRICS = ("fid", "is", "kid", "precision", "recall", "density", "coverage")
RECONSTRUCTION_METRICS = ("ms_ssim", "psnr")
DISENTANGLEMENT_METRICS = ("mig", "factorvae_score", "beta_vae_score", "dci_disentanglement",
                           "sap")
METRIC_FAMILIES = {
    **{n: _LIKELIHOOD for n in ("bpd", "elbo", "kl", "recon")}, "modes": _MODES,
    **{n: _SAMPLES for n in SAMPLE_METRICS},
    **{n: _RECONSTRUCTION for n in RECONSTRUCTION_METRICS},
    **{n: _DISENTANGLEMENT for n in DISENTANGLEMENT_METRICS},
}
MODE_SAMPLES = 2500  # The VEEGAN/PacGAN protocol draws 2,500 samples.


def unsupported_reason(name: str, method: Method, info=None) -> str | None:
    """Why `method` on dataset `info` cannot report `name` (None: it can).

    Sample, reconstruction and disentanglement metrics follow from what the method has
    (sample / reconstruct / encode) and the dataset (images / factors); likelihood and mode
    metrics must be listed in Method.metrics."""
    family = METRIC_FAMILIES[name]
    images = info is None or info.kind == "image"
    if family == _SAMPLES:
        return None if images else "sample-based image metrics need an image dataset"
    if family == _RECONSTRUCTION:
        if method.reconstruct is None:
            return "it has no reconstruct()"
        return None if images else "reconstruction metrics need an image dataset"
    if family == _DISENTANGLEMENT:
        if method.encode is None:
            return "it has no encoder (encode())"
        if info is not None and not info.factor_names:
            return (f"dataset {info.name!r} has no ground-truth factors (use data.name="
                    "'dsprites')")
        return None
    return None if name in method.metrics else "it does not compute it"


def supported_metrics(method: Method, info=None) -> tuple[str, ...]:
    return tuple(n for n in METRIC_FAMILIES if unsupported_reason(n, method, info) is None)


def check_metrics(names, method: Method, info=None) -> None:
    """Fails before training if `eval.metrics` names an unknown or unsupported metric."""
    for name in names:
        if name not in METRIC_FAMILIES:
            raise ValueError(f"Unknown metric {name!r} in eval.metrics; valid metrics: "
                             f"{', '.join(sorted(METRIC_FAMILIES))}.")
        reason = unsupported_reason(name, method, info)
        if reason:
            raise ValueError(f"Method {method.name!r} (as configured) cannot report {name!r}: "
                             f"{reason}; it supports {list(supported_metrics(method, info))}. "
                             "Leave it out of eval.metrics (--config.eval.metrics for training, "
                             "--metrics for experiments.evaluate).")


class Evaluator:
    """The metrics of eval.metrics for one method, dataset and mesh.

    `evaluator(variables, rng)` returns numeric results (for metrics.jsonl and TensorBoard);
    `evaluator.metadata` then holds the strings that describe them (reference set, features)."""

    def __init__(self, method: Method, config, mesh):
        self.method, self.config, self.mesh = method, config, mesh
        self.info = data.get_info(config.data)
        self.names = tuple(config.eval.metrics)
        check_metrics(self.names, method, self.info)
        self.families = {METRIC_FAMILIES[n] for n in self.names}
        parallel.check_batch_size(config.eval.batch_size, "eval.batch_size", mesh)
        self._batch_sums = jax.jit(
            self._sums, in_shardings=(parallel.replicated(mesh), parallel.data_sharding(mesh),
                                      parallel.replicated(mesh)),
            out_shardings=parallel.replicated(mesh))
        self._sample, self._sample_sharding = None, None
        self.metadata: dict = {}
        if _SAMPLES in self.families:
            self._check_sample_setup()
        self._extractor = self._apply_features = self._reference = None
        self._recon_sums = self._encode = None

    # -- sample-based metrics ---------------------------------------------------------------

    def _check_sample_setup(self) -> None:
        """Config errors of the sample metrics, before any training or compilation."""
        batch = self.config.eval.feature_batch_size
        parallel.check_batch_size(batch, "eval.feature_batch_size", self.mesh)
        self.feature_kind = features_lib.resolve_kind(self.config.eval, self.info)
        if self.feature_kind == "inception":
            inception.require_weights(self.config.eval.inception_weights, "is" in self.names)
        if "is" in self.names and self.feature_kind == "random":
            raise ValueError(f"Metric 'is' needs class logits, but dataset {self.info.name!r} "
                             "uses the random-weight feature network (no labels or factors); "
                             "drop 'is' or set eval.features='inception' (RGB >= 32 px).")
        if self.config.eval.num_samples < 2:
            raise ValueError("eval.num_samples must be >= 2.")

    def _features(self):
        if self._extractor is None:
            self._extractor = features_lib.make_extractor(self.config, self.info,
                                                          self.feature_kind)
            self._apply_features = features_lib.jit_extractor(self._extractor, self.mesh)
            self._reference = features_lib.reference_features(
                self.config, self.info, self._extractor, self._apply_features, self.mesh)
        return self._extractor, self._apply_features, self._reference

    def _sample_batches(self, variables, rng, num: int, batch_size: int):
        if self._sample is None or self._sample_sharding != "data":
            self._sample = jax.jit(self.method.sample, static_argnums=2,
                                   out_shardings=parallel.data_sharding(self.mesh))
            self._sample_sharding = "data"
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

    def _sample_metrics(self, variables, rng) -> dict:
        extractor, _, ref = self._features()
        fake = self.sample_features(variables, rng)
        real, n_fake, n_real = ref["features"], len(fake["features"]), int(ref["num"])
        results, names, cfg = {}, self.names, self.config
        if "fid" in names:
            results.update(fid=fid_lib.frechet_distance(ref["mu"], ref["sigma"],
                                                        *fid_lib.statistics(fake["features"])),
                           fid_num_samples=n_fake, fid_num_real=n_real)
        if "is" in names:
            mean, std = fid_lib.inception_score(fake["logits"], cfg.eval.is_splits)
            results.update({"is": mean, "is_std": std, "is_num_samples": n_fake})
        if "kid" in names:
            mean, std = fid_lib.kernel_inception_distance(
                real, fake["features"], cfg.eval.kid_subsets,
                cfg.eval.kid_subset_size, seed=self.config.seed)
            results.update(kid=mean, kid_std=std, kid_num_samples=n_fake, kid_num_real=n_real)
        results.update(self._prdc(real, fake["features"]))
        self.metadata.update(fid_reference=ref["reference"], features=extractor.name,
                             features_kind=extractor.kind)
        if "test_accuracy" in extractor.details:
            self.metadata["features_test_accuracy"] = extractor.details["test_accuracy"]
        return results

    def _prdc(self, real, fake) -> dict:
        """precision/recall (k = eval.pr_k) and density/coverage (k = eval.dc_k) on the first
        eval.prdc_num_samples features of each set."""
        wants_pr = {"precision", "recall"} & set(self.names)
        wants_dc = {"density", "coverage"} & set(self.names)
        if not (wants_pr or wants_dc):
            return {}
        from genmodels.metrics import prdc  # noqa: PLC0415 (written alongside; see docs)

        m = self.config.eval.prdc_num_samples
        real, fake = real[:m], fake[:m]
        counts = {"prdc_num_samples": len(fake), "prdc_num_real": len(real)}
        results = {}
        if wants_pr:
            results.update(prdc.precision_recall(real, fake, k=self.config.eval.pr_k))
        if wants_dc:
            results.update(prdc.density_coverage(real, fake, k=self.config.eval.dc_k))
        return {**{k: float(v) for k, v in results.items()}, **counts}

    # -- reconstruction metrics ---------------------------------------------------------------

    def _reconstruction(self, variables, rng, split: str) -> dict:
        """Test-split means of psnr (over images that are not reproduced exactly, whose PSNR
        is +inf; their count is psnr_num_exact) and ms_ssim of x against reconstruct(x)."""
        from genmodels.metrics import image_quality  # noqa: PLC0415

        wanted = [n for n in RECONSTRUCTION_METRICS if n in self.names]
        if self._recon_sums is None:
            def sums(variables, batch, rng):
                x = batch["image"]
                y = self.method.reconstruct(variables, x, rng)
                mask = batch["mask"].astype(jnp.float32)
                out = {}
                if "psnr" in wanted:
                    value = image_quality.psnr(x, y)
                    finite = jnp.isfinite(value).astype(jnp.float32) * mask
                    out.update(psnr=jnp.sum(jnp.where(finite > 0, value, 0.0)),
                               psnr_num_finite=jnp.sum(finite))
                if "ms_ssim" in wanted:
                    out["ms_ssim"] = jnp.sum(image_quality.ms_ssim(x, y) * mask)
                return out, jnp.sum(mask)

            repl = parallel.replicated(self.mesh)
            self._recon_sums = jax.jit(sums, in_shardings=(
                repl, parallel.data_sharding(self.mesh), repl), out_shardings=repl)
        totals, count = self._accumulate(self._recon_sums, variables, rng, split)
        results = {"reconstruction_num_examples": int(count)}
        if "ms_ssim" in wanted:
            results["ms_ssim"] = float(totals["ms_ssim"] / count)
        if "psnr" in wanted:
            finite = float(totals["psnr_num_finite"])
            results["psnr"] = float(totals["psnr"] / finite) if finite else float("inf")
            results["psnr_num_exact"] = int(count - finite)
        return results

    # -- disentanglement ------------------------------------------------------------------------

    def encode_fn(self, variables):
        """Host function uint8 images [n, H, W, C] -> codes float32 [n, L], run in padded
        batches of eval.batch_size sharded over the mesh."""
        if self._encode is None:
            self._encode = jax.jit(self.method.encode, in_shardings=(
                parallel.replicated(self.mesh), parallel.data_sharding(self.mesh)),
                out_shardings=parallel.replicated(self.mesh))
        b, sharding = self.config.eval.batch_size, parallel.data_sharding(self.mesh)

        def encode(images):
            images, codes = np.asarray(images), []
            for start in range(0, len(images), b):
                chunk = images[start:start + b]
                padded = np.concatenate([chunk, np.repeat(chunk[:1], b - len(chunk), 0)])
                batch = parallel.global_batch({"x": padded}, sharding)["x"]
                codes.append(parallel.to_host(self._encode(variables, batch))[:len(chunk)])
            return np.concatenate(codes).astype(np.float32)

        return encode

    def ground_truth(self):
        """The dataset as disentanglement.GroundTruthData: procedural dSprites, or an array
        dataset holding the full factor grid (e.g. shapes3d)."""
        from genmodels.metrics import disentanglement  # noqa: PLC0415

        if self.info.name == "dsprites":
            return disentanglement.DSpritesGroundTruth(self.info.shape[0])
        source = data.get_source(self.config.data, "train")
        factors = source.read_batch(np.arange(len(source)))["factors"]
        return disentanglement.ArrayGroundTruth(lambda rows: source.read_batch(rows)["image"],
                                                factors, self.info.factor_sizes)

    def _disentanglement(self, variables, rng) -> dict:
        """mig, sap, dci on eval.disentanglement_num_examples codes of uniformly drawn factors;
        beta_vae_score and factorvae_score with eval.disentanglement_num_train / _num_eval
        points (disentanglement_lib: 10,000 / 5,000)."""
        from genmodels.metrics import disentanglement  # noqa: PLC0415

        encode, dataset = self.encode_fn(variables), self.ground_truth()
        seed = int(jax.random.randint(rng, (), 0, 2**31 - 1))
        results = {}
        if {"mig", "sap", "dci_disentanglement"} & set(self.names):
            num = self.config.eval.disentanglement_num_examples
            codes, factors = disentanglement.factor_codes(encode, dataset, num, seed)
            if "mig" in self.names:
                results["mig"] = float(disentanglement.mig(codes, factors))
            if "sap" in self.names:
                results["sap"] = float(disentanglement.sap(codes, factors))
            if "dci_disentanglement" in self.names:
                results.update({k: float(v) for k, v in
                                disentanglement.dci(codes, factors).items()})
            results["disentanglement_num_examples"] = num
        counts = {"num_train": self.config.eval.disentanglement_num_train,
                  "num_eval": self.config.eval.disentanglement_num_eval}
        for i, name in enumerate(("beta_vae_score", "factorvae_score")):
            if name in self.names:
                score = getattr(disentanglement, name)(encode, dataset, seed + 1 + i, **counts)
                results.update({name: float(score), f"{name}_num_train": counts["num_train"],
                                f"{name}_num_eval": counts["num_eval"]})
        return results

    # -- likelihood and modes -----------------------------------------------------------------

    def _sums(self, variables, batch, rng):
        values = self.method.eval_fn(variables, batch, rng)
        mask = batch["mask"].astype(jnp.float32)
        return {k: jnp.sum(v * mask) for k, v in values.items()}, jnp.sum(mask)

    def __call__(self, variables, rng, split: str = "test") -> dict:
        results = {}
        if _LIKELIHOOD in self.families:
            results.update(self._likelihood(variables, rng, split))
        if _MODES in self.families:
            results.update(self._modes(variables, jax.random.fold_in(rng, 1)))
        if _SAMPLES in self.families:
            results.update(self._sample_metrics(variables, jax.random.fold_in(rng, 2)))
        if _RECONSTRUCTION in self.families:
            results.update(self._reconstruction(variables, jax.random.fold_in(rng, 3), split))
        if _DISENTANGLEMENT in self.families:
            results.update(self._disentanglement(variables, jax.random.fold_in(rng, 4)))
        return results

    def _modes(self, variables, rng) -> dict:
        if self._sample is None or self._sample_sharding != "replicated":
            self._sample = jax.jit(self.method.sample, static_argnums=2,
                                   out_shardings=parallel.replicated(self.mesh))
            self._sample_sharding = "replicated"
        samples = parallel.to_host(self._sample(
            sampling_variables(self.method, variables), rng, MODE_SAMPLES))
        return mode_coverage(samples, self.info.modes, self.info.mode_std)

    def _accumulate(self, fn, variables, rng, split: str):
        sharding = parallel.data_sharding(self.mesh)
        totals, count = None, 0.0
        batches = data.eval_batches(self.config.data, split, batch_size=self.config.eval.batch_size,
                                    max_examples=self.config.eval.num_examples)
        for i, local in enumerate(batches):
            sums, n = fn(variables, parallel.global_batch(local, sharding),
                         jax.random.fold_in(rng, i))
            sums, n = parallel.to_host((sums, n))
            totals = sums if totals is None else {k: totals[k] + sums[k] for k in sums}
            count += float(n)
        return totals, count

    def _likelihood(self, variables, rng, split: str) -> dict:
        totals, count = self._accumulate(self._batch_sums, variables, rng, split)
        results = {k: float(v / count) for k, v in totals.items()}
        results["num_examples"] = int(count)
        return results


def nonfinite_terms(metrics: dict) -> list[str]:
    return sorted(k for k, v in metrics.items() if not np.all(np.isfinite(np.asarray(v))))
