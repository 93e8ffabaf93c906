"""RAE (Ghosh et al. 2020): deterministic autoencoder, latent L2 + a decoder regulariser, and
ex-post density sampling (docs/vae_family.md).

Presets: default (digits, CPU minutes), mnist, cifar10, celeba64 (paper scale; latent 16, 128,
64 as in the paper). Regularisers: --config.model.regularizer=none|l2|gp|spectral_norm.
  python -m experiments.main --config=configs/rae.py --workdir=/tmp/rae
  python -m experiments.main --config=configs/rae.py:cifar10 --workdir=/tmp/rae_cifar
"""

from configs import default


def _digits():
    c = default.base_config()
    c.method = "rae"
    c.data.name = "digits"
    c.data.batch_size = 64
    c.model = dict(
        latent_dim=16,  # The paper's MNIST latent size.
        encoder_features=(32, 64),
        decoder_features=(64, 32),
        dense=256,
        upsample="subpixel",
        beta=1e-3,  # Weight of 1/2 ||z||^2 per image (the loss sums squared errors over pixels).
        regularizer="l2",  # none | l2 (decoder weight decay) | gp | spectral_norm
        # lambda of L_REG (unused by none and spectral_norm). Chosen on digits so that the
        # regulariser costs ~0.1 dB of train PSNR: 1e-4 suits l2; use ~1e-2 with gp.
        reg_weight=1e-4,
        # ||grad_z D||^2 as hutchinson (||J v||^2, v ~ N(0, I): unbiased, one jvp; ~3x the
        # step time of none on digits), frobenius (exact, Z jvps: ~18x at Z=16) or output_sum.
        gp_form="hutchinson",
        spectral_norm_iterations=1,  # Power iterations per train step (spectral_norm only).
        density="gmm",  # Ex-post density: gaussian | gmm (full covariance).
        density_components=10,
        density_num_examples=10_000,  # Training codes the density is fitted on (at most).
    )
    c.optim = default.adam(1e-3)
    c.train.num_steps = 2000
    c.train.log_every = 100
    c.train.checkpoint_every = 500
    c.train.sample_every = 500
    c.eval.every = 500
    # recon: test pixel MSE on [0, 1] (eval_fn); psnr: the evaluator's reconstruction PSNR.
    c.eval.metrics = ("recon", "psnr")
    return c


def _paper_scale(c, data_name, latent_dim, image_size=None):
    """The WAE/RAE conv architecture (4 stride-2 stages, 128..1024 channels), batch 100."""
    c.data.name = data_name
    c.data.image_size = image_size
    c.data.batch_size = 100
    c.model.latent_dim = latent_dim
    c.model.encoder_features = (128, 256, 512, 1024)
    c.model.decoder_features = (1024, 512, 256, 128)
    c.model.dense = 1024
    c.train.log_every = 500
    c.train.checkpoint_every = 5000
    c.train.sample_every = 5000
    c.eval.every = 10_000
    c.eval.batch_size = 500
    return c


def _mnist():
    c = _paper_scale(_digits(), "mnist", 16, image_size=32)  # 28 is not divisible by 2^4.
    c.train.num_steps = 60_000  # 100 epochs of 60k at batch 100.
    return c


def _cifar10():
    c = _paper_scale(_digits(), "cifar10", 128)
    c.train.num_steps = 50_000  # 100 epochs.
    return c


def _celeba64():
    c = _paper_scale(_digits(), "celeb_a", 64, image_size=64)
    c.model.regularizer = "spectral_norm"  # The paper's best CelebA FID is RAE-SN.
    c.train.num_steps = 100_000
    return c


def get_config(arg=None):
    return default.select_preset({"default": _digits, "mnist": _mnist, "cifar10": _cifar10,
                                  "celeba64": _celeba64}, arg, "configs/rae.py")()
