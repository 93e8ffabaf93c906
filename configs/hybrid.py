"""The hybrid model (ADE, Lucas et al. 2019), the project's main job: a VAE in the feature space
of an invertible flow, trained with likelihood plus a log-ratio adversarial term.

  python -m experiments.main --config=configs/hybrid.py --workdir=/tmp/hybrid
  python -m experiments.main --config=configs/hybrid.py:cifar10 --workdir=/tmp/hybrid_cifar

Presets: default (embedded 16x16 `patches`, CPU minutes), cifar10 (adversarial-leaning, the
paper's v1), cifar10_v2 (likelihood-leaning), celeba64, lsun_church64. What the knobs trade:
losses.adversarial_weight (lambda, per sub-pixel) buys sample quality (precision) at the price of
bpd; the flow (model.flow: levels, depth) lets the feature-space Gaussian model correlated pixels
(better bpd and sharper samples) at more compute; model.sigma fixed keeps the decoder from
inflating sigma to explain blur, per_channel / per_pixel fit it (better bpd, blurrier samples
from the mean). docs/hybrid.md has the objective, the stability measurements and the ablation.
"""

from configs import default


def _patches():
    c = default.base_config()
    c.method = "hybrid"
    c.data.name = "patches"
    c.data.batch_size = 64
    c.model = dict(
        latent_dim=32,
        encoder_features=(32, 64),
        decoder_features=(64, 32),
        dense=256,
        sigma="per_channel",  # fixed | per_channel | per_pixel
        sigma_init=0.1,  # sigma of "fixed" and the initial value of "per_channel"
        # The feature flow f_psi. num_scales = L >= 1: Glow's multi-scale plan (L levels of
        # `depth` steps of ActNorm, 1x1 conv and coupling, each level squeezing, half factored
        # out between levels) packed back into image shape, the flow of configs/flow.py:glow
        # at hidden 32; num_scales = 0: `depth` steps after `squeezes` squeezes at one scale.
        # depth 0: no flow (pixel-space VAE). mask, scale_bound, net, num_blocks: as in
        # configs/flow.py.
        # Additive couplings: an affine coupling's inverse divides by its scale, and at the
        # decoder means of prior z that overflowed under the adversarial term (docs/hybrid.md,
        # "Stability").
        flow=dict(depth=4, hidden=32, coupling="additive", squeezes=0, mask="channel",
                  scale_bound="sigmoid", net="glow", num_blocks=0, num_scales=2),
        discriminator="dcgan",  # dcgan (any 4 * 2^k px) | sngan (ResNet, 16/32/48/64 px)
        d_features=32,
        spectral_norm=True,  # sngan only
        ema_decay=0.0,
    )
    c.losses = dict(
        # lambda, per sub-pixel: the generator minimises L_C / D + lambda L_Q (D = 768
        # sub-pixels here), so lambda means the same at any image size; 0 trains by likelihood
        # only (no discriminator). adversarial_scale="per_image": L_C + lambda L_Q.
        adversarial_weight=0.01,
        adversarial_scale="per_dim",
        generator="log_ratio",  # any generator loss of genmodels.losses (or an import path)
        discriminator="non_saturating",  # binary cross-entropy
        penalty="r1",
        penalty_weight=1.0,
    )
    c.schedule = dict(d_steps=1, g_steps=1)
    c.optim = dict(generator=default.adam(1e-3), discriminator=default.adam(2e-4, b1=0.5))
    c.train.num_steps = 3000
    c.train.log_every = 100
    c.train.checkpoint_every = 1000
    c.train.sample_every = 500
    c.eval.every = 1000
    # Both sides of the question, in training and in `experiments.evaluate --workdir=W`: test
    # bpd, and sample quality and coverage of eval.num_samples (10,000) samples against the train
    # split in the best available features (eval.features=auto: randconv on 16 px patches, so
    # reported as fd_randconv / kid_randconv; docs/evaluation.md "Metric keys and feature
    # spaces"). Their reference features are computed once and cached.
    c.eval.metrics = ("bpd", "fid", "kid", "precision", "recall", "density", "coverage")
    # Test bpd is the IWAE-k bound (k decoder passes per image); bpd_elbo is the k = 1 ELBO.
    c.eval.iwae_k = 20
    c.eval.iwae_chunk = 10
    return c


def _cifar10():
    """Adversarial-leaning (the paper's v1): SNGAN ResNet discriminator with spectral norm."""
    c = _patches()
    c.data.name = "cifar10"
    c.model.update(dict(latent_dim=128, encoder_features=(64, 128, 256),
                        decoder_features=(256, 128, 64), dense=1024, discriminator="sngan",
                        d_features=128))
    c.model.flow.update(dict(depth=3, hidden=128, coupling="affine", squeezes=1, num_scales=0))
    # lambda 1 per image, as this preset had when lambda weighed nats per image: 1 / 3072 per
    # sub-pixel at 32x32x3 (not measured here).
    c.losses.adversarial_weight = 1.0 / 3072
    c.optim.generator = default.adam(2e-4)
    c.optim.discriminator = default.adam(2e-4, b1=0.0, b2=0.9)
    c.train.num_steps = 200_000
    c.train.log_every = 500
    c.train.checkpoint_every = 5000
    c.train.sample_every = 5000
    c.eval.every = 10_000
    c.eval.batch_size = 500
    return c


def _cifar10_v2():
    """Likelihood-leaning (the paper's v2): a smaller adversarial weight."""
    c = _cifar10()
    c.losses.adversarial_weight = 0.1 / 3072  # 0.1 per image at 32x32x3.
    return c


def _celeba64():
    c = _cifar10()
    c.data.name = "celeb_a"
    c.data.image_size = 64
    c.model.encoder_features = (64, 128, 256, 512)
    c.model.decoder_features = (512, 256, 128, 64)
    return c


def _lsun_church64():
    c = _celeba64()
    c.data.name = "lsun/church_outdoor"
    return c


def get_config(arg=None):
    presets = {"default": _patches, "cifar10": _cifar10, "cifar10_v2": _cifar10_v2,
               "celeba64": _celeba64, "lsun_church64": _lsun_church64}
    return default.select_preset(presets, arg, "configs/hybrid.py")()
