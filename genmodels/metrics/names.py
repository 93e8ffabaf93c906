"""Metric names shared by the methods (which declare what they support in `Method.metrics`) and
genmodels.evaluation (which computes them); docs/evaluation.md lists the families."""

LIKELIHOOD_METRICS = ("bpd", "elbo", "kl", "recon")
MODE_METRICS = ("modes",)
# Requests of the sample family. fid / kid / is are reported under these keys on the Inception
# network only; other feature spaces report under keys naming the space (fd_classifier, ...).
SAMPLE_METRICS = ("fid", "is", "kid", "precision", "recall", "density", "coverage")
RECONSTRUCTION_METRICS = ("ms_ssim", "psnr")
DISENTANGLEMENT_METRICS = ("mig", "factorvae_score", "beta_vae_score", "dci_disentanglement",
                           "sap")
