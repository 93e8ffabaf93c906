"""AGAVE (Lucas & Verbeek 2018): VAE with an auxiliary image decoder and a PixelCNN++ decoder.

Presets: default (digits, CPU minutes), cifar10 (the paper's setting, lambda = 12).
  python -m experiments.main --config=configs/agave.py --workdir=/tmp/agave
  python -m experiments.main --config=configs/agave.py:cifar10 --workdir=/tmp/agave_cifar
"""

from configs import default
from configs import pixelcnn


def _digits():
    c = default.base_config()
    c.method = "agave"
    c.data.name = "digits"
    c.data.batch_size = 32
    c.model = dict(
        latent_dim=8,
        encoder_features=(32,),
        decoder_features=(32,),  # f(z): ConvDecoder to the aux image's size.
        dense=128,
        cond_features=16,  # Channels of f(z)'s last feature map.
        # What of f(z) every PixelCNN block sees: `features` (that map) or `aux` (the predicted
        # mean of y, C channels: only what predicts the auxiliary image reaches the PixelCNN).
        cond_source="features",
        # Multiplies that map. Under Adam it scales how far each update moves the PixelCNN's
        # conditioning projections (their effective learning rate); 0 cuts z off the PixelCNN.
        cond_scale=1.0,
        aux_target="lowres",  # image | lowres | quantized
        aux_factor=2,  # lowres: y = x average-pooled by this factor.
        aux_levels=4,  # quantized: y = floor(x levels / 256).
        kl_weight=1.0,  # lambda >= 1 on the KL.
        ema_decay=0.0,
        **pixelcnn.network(),
    )
    c.optim = default.adam(1e-3)
    # No clipping: one global norm over the encoder, f(z) and the PixelCNN lets the first two's
    # gradients shrink the PixelCNN's steps (patches, step 300: train bpd 5.22 clipped at 1.0
    # against 4.95 unclipped; docs/likelihood.md).
    c.optim.grad_clip_norm = 0.0
    c.train.num_steps = 1500
    c.train.log_every = 100
    c.train.checkpoint_every = 500
    c.train.sample_every = 1500
    c.eval.every = 1500
    c.eval.metrics = ("bpd",)
    # Test bpd is the IWAE-k bound (k PixelCNN passes per image); bpd_elbo is the k=1 ELBO.
    c.eval.iwae_k = 50
    c.eval.iwae_chunk = 10
    return c


def _cifar10():
    c = _digits()
    c.data.name = "cifar10"
    c.data.batch_size = 64
    c.model.update(dict(latent_dim=128, encoder_features=(64, 128, 256),
                        decoder_features=(256, 128, 64), dense=1024, cond_features=64,
                        aux_target="quantized", aux_levels=8, kl_weight=12.0, ema_decay=0.9995))
    c.model.update(pixelcnn.network(features=160, blocks_per_stage=5, num_stages=3,
                                    num_mixtures=10, dropout=0.5))
    c.optim.grad_clip_norm = 0.0
    c.train.num_steps = 500_000
    c.train.log_every = 500
    c.train.checkpoint_every = 5000
    c.train.sample_every = 20_000
    c.train.num_sample_images = 16
    c.eval.every = 20_000
    c.eval.batch_size = 100
    c.eval.iwae_k = 150  # The paper's importance-sampling bound.
    c.eval.iwae_chunk = 5
    return c


def get_config(arg=None):
    return default.select_preset({"default": _digits, "cifar10": _cifar10}, arg,
                                 "configs/agave.py")()
