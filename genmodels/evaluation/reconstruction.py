"""Reconstruction family: test-split means of psnr and ms_ssim of x against
Method.reconstruct(x) (genmodels.metrics.image_quality)."""

import jax.numpy as jnp

from genmodels.evaluation import common
from genmodels.evaluation.registry import Family, register
from genmodels.metrics import image_quality
from genmodels.metrics.names import RECONSTRUCTION_METRICS


@register
class Reconstruction(Family):
    """psnr is the mean over the images that are not reproduced exactly (their PSNR is +inf;
    psnr_num_exact counts them)."""

    name = "reconstruction"
    metrics = RECONSTRUCTION_METRICS
    rng_index = 3

    @staticmethod
    def requirement(method, info):
        if method.reconstruct is None:
            return "it has no reconstruct()"
        if info is not None and info.kind != "image":
            return "reconstruction metrics need an image dataset"
        return None

    def __init__(self, method, config, mesh, names, info):
        super().__init__(method, config, mesh, names, info)
        self._sums = common.jit_batch_sums(self._per_example, mesh)

    def _per_example(self, variables, batch, rng):
        x = batch["image"]
        y = self.method.reconstruct(variables, x, rng)
        out = {}
        if "psnr" in self.names:
            value = image_quality.psnr(x, y)
            finite = jnp.isfinite(value)
            out.update(psnr=jnp.where(finite, value, 0.0),
                       psnr_num_finite=finite.astype(jnp.float32))
        if "ms_ssim" in self.names:
            out["ms_ssim"] = image_quality.ms_ssim(x, y)
        return out

    def __call__(self, variables, rng, split):
        totals, count = common.accumulate(self._sums, variables, rng, split, self.config,
                                          self.mesh)
        results = {"reconstruction_num_examples": int(count)}
        if "ms_ssim" in self.names:
            results["ms_ssim"] = float(totals["ms_ssim"] / count)
        if "psnr" in self.names:
            finite = float(totals["psnr_num_finite"])
            results["psnr"] = float(totals["psnr"] / finite) if finite else float("inf")
            results["psnr_num_exact"] = int(count - finite)
        return results
