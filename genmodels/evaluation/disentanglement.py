"""Disentanglement family: mig, sap, dci_disentanglement, beta_vae_score and factorvae_score of
Method.encode on a dataset with ground-truth factors (genmodels.metrics.disentanglement)."""

import jax
import numpy as np

from genmodels import data, parallel
from genmodels.evaluation.registry import Family, register
from genmodels.metrics import disentanglement
from genmodels.metrics.names import DISENTANGLEMENT_METRICS


@register
class Disentanglement(Family):
    """mig, sap, dci on eval.disentanglement_num_examples codes of uniformly drawn factors;
    beta_vae_score and factorvae_score with eval.disentanglement_num_train / _num_eval points
    (disentanglement_lib: 10,000 / 5,000)."""

    name = "disentanglement"
    metrics = DISENTANGLEMENT_METRICS
    rng_index = 4

    @staticmethod
    def requirement(method, info):
        if method.encode is None:
            return "it has no encoder (encode())"
        if info is not None and not info.factor_names:
            return (f"dataset {info.name!r} has no ground-truth factors (use data.name="
                    "'dsprites')")
        return None

    def __init__(self, method, config, mesh, names, info):
        super().__init__(method, config, mesh, names, info)
        self._encode = jax.jit(method.encode, in_shardings=(
            parallel.replicated(mesh), parallel.data_sharding(mesh)),
            out_shardings=parallel.replicated(mesh))

    def encode_fn(self, variables):
        """Host function uint8 images [n, H, W, C] -> codes float32 [n, L], run in padded
        batches of eval.batch_size sharded over the mesh."""
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
        if self.info.name == "dsprites":
            return disentanglement.DSpritesGroundTruth(self.info.shape[0])
        source = data.get_source(self.config.data, "train")
        factors = source.read_batch(np.arange(len(source)))["factors"]
        return disentanglement.ArrayGroundTruth(lambda rows: source.read_batch(rows)["image"],
                                                factors, self.info.factor_sizes)

    def __call__(self, variables, rng, split):
        encode, dataset = self.encode_fn(variables), self.ground_truth()
        seed = int(jax.random.randint(rng, (), 0, 2**31 - 1))
        names, cfg, results = self.names, self.config.eval, {}
        if {"mig", "sap", "dci_disentanglement"} & set(names):
            num = cfg.disentanglement_num_examples
            codes, factors = disentanglement.factor_codes(encode, dataset, num, seed)
            if "mig" in names:
                results["mig"] = float(disentanglement.mig(codes, factors))
            if "sap" in names:
                results["sap"] = float(disentanglement.sap(codes, factors))
            if "dci_disentanglement" in names:
                results.update({k: float(v) for k, v in
                                disentanglement.dci(codes, factors).items()})
            results["disentanglement_num_examples"] = num
        counts = {"num_train": cfg.disentanglement_num_train,
                  "num_eval": cfg.disentanglement_num_eval}
        for i, name in enumerate(("beta_vae_score", "factorvae_score")):
            if name in names:
                score = getattr(disentanglement, name)(encode, dataset, seed + 1 + i, **counts)
                results.update({name: float(score), f"{name}_num_train": counts["num_train"],
                                f"{name}_num_eval": counts["num_eval"]})
        return results
