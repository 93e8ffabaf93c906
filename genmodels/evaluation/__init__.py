"""Evaluation metrics chosen by name (`eval.metrics`), shared by training, evaluate and load.

One module per metric family, each registered by name (registry.py says how to add one):
- likelihood: test-split means of the method's per-example terms (eval_fn): bpd, elbo, kl, recon;
- modes: mode coverage of samples on the 2-D mixtures;
- samples: fid, is, kid (reported as fd_<space>, kid_<space>, is_<space> outside the Inception
  network), precision, recall, density, coverage on eval.num_samples samples against cached
  reference features (genmodels.metrics.features);
- reconstruction: psnr, ms_ssim of test images against method.reconstruct;
- disentanglement: mig, sap, dci_disentanglement, beta_vae_score, factorvae_score of
  method.encode on a dataset with ground-truth factors.
"""

# Family modules register themselves on import, in evaluation order.
from genmodels.evaluation import likelihood, modes, samples, reconstruction  # noqa: F401
from genmodels.evaluation import disentanglement  # noqa: F401
from genmodels.evaluation.evaluator import Evaluator
from genmodels.evaluation.modes import MODE_SAMPLES
from genmodels.evaluation.registry import (FAMILIES, METRIC_FAMILIES, Family, check_metrics,
                                           nonfinite_terms, register, supported_metrics,
                                           unsupported_reason)
from genmodels.evaluation.samples import FEATURE_SPACES, result_key
from genmodels.metrics.prdc import prdc_metrics, uniform_subset
from genmodels.metrics.names import (DISENTANGLEMENT_METRICS, LIKELIHOOD_METRICS, MODE_METRICS,
                                     RECONSTRUCTION_METRICS, SAMPLE_METRICS)

__all__ = ["Evaluator", "Family", "register", "FAMILIES", "METRIC_FAMILIES", "check_metrics",
           "supported_metrics", "unsupported_reason", "nonfinite_terms", "result_key",
           "prdc_metrics", "uniform_subset", "FEATURE_SPACES", "MODE_SAMPLES",
           "LIKELIHOOD_METRICS", "MODE_METRICS", "SAMPLE_METRICS", "RECONSTRUCTION_METRICS",
           "DISENTANGLEMENT_METRICS"]
