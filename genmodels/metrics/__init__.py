"""Metrics that judge generative models."""

from genmodels.metrics.modes import mode_coverage

__all__ = ["mode_coverage"]

from genmodels.metrics.prdc import density_coverage, precision_recall  # noqa: E402
from genmodels.metrics.image_quality import ms_ssim, psnr  # noqa: E402
from genmodels.metrics.disentanglement import (  # noqa: E402
    ArrayGroundTruth, DSpritesGroundTruth, beta_vae_score, dci, factor_codes, factorvae_score,
    mig, sap)

__all__ += ["precision_recall", "density_coverage", "psnr", "ms_ssim", "mig", "sap", "dci",
            "beta_vae_score", "factorvae_score", "factor_codes", "DSpritesGroundTruth",
            "ArrayGroundTruth"]
from genmodels.metrics.fid import (  # noqa: E402
    frechet_distance, inception_score, kernel_inception_distance, statistics)

__all__ += ["frechet_distance", "inception_score", "kernel_inception_distance", "statistics"]
from genmodels.metrics.baselines import histogram_bpd  # noqa: E402

__all__ += ["histogram_bpd"]
