"""PixelCNN++ (Salimans et al. 2017): autoregressive likelihood model, exact bits/dim.

Presets: default (digits, a few CPU minutes), categorical (a 256-way softmax per
sub-pixel, which puts its mass on digits' 17 grey levels exactly; dropout 0.5), cifar10 (the
paper's network).
  python -m experiments.main --config=configs/pixelcnn.py --workdir=/tmp/pixelcnn
  python -m experiments.main --config=configs/pixelcnn.py:cifar10 --workdir=/tmp/pixelcnn_cifar
"""

from configs import default


def network(features=32, blocks_per_stage=2, num_stages=2, num_mixtures=10, dropout=0.1,
            likelihood="logistic_mixture"):
    """The PixelCNN++ fields (shared with configs/agave.py)."""
    return dict(
        # logistic_mixture (PixelCNN++) | categorical (256-way softmax per channel, PixelCNN's;
        # the better choice for data on few levels, e.g. digits' 17).
        likelihood=likelihood,
        features=features,  # Filters of every layer (paper: 160).
        blocks_per_stage=blocks_per_stage,  # Gated residual blocks per stage (paper: 5).
        num_stages=num_stages,  # Resolutions H, H/2, ... (paper: 3); H divisible by 2^(n-1).
        num_mixtures=num_mixtures,  # Logistic mixture components (paper: 10; mixture only).
        dropout=dropout,  # Dropout rate inside each gated block (paper: 0.5).
    )


def _digits():
    c = default.base_config()
    c.method = "pixelcnn"
    c.data.name = "digits"
    c.data.batch_size = 32
    c.model = dict(**network(), ema_decay=0.0)  # ema_decay > 0: Polyak-averaged params.
    c.optim = default.adam(1e-3)
    c.optim.grad_clip_norm = 1.0
    c.train.num_steps = 1500
    c.train.log_every = 100
    c.train.checkpoint_every = 500
    c.train.sample_every = 1500
    c.train.num_sample_images = 64
    c.eval.every = 500
    c.eval.metrics = ("bpd",)
    return c


def _categorical_digits():
    """A 256-way softmax per sub-pixel fits the 1,500 training digits far faster than the
    mixture and overfits them at dropout 0.1 (test bpd 1.80 at step 500, 2.25 at 1500, train
    1.17); the paper's dropout 0.5 keeps test bpd falling (docs/likelihood.md)."""
    c = _digits()
    c.model.likelihood = "categorical"
    c.model.dropout = 0.5
    return c


def _cifar10():
    c = _digits()
    c.data.name = "cifar10"
    c.data.batch_size = 64
    c.model.update(network(features=160, blocks_per_stage=5, num_stages=3, num_mixtures=10,
                           dropout=0.5))
    c.model.ema_decay = 0.9995  # Polyak averaging, as in the paper's code.
    c.optim.learning_rate = 1e-3
    c.optim.grad_clip_norm = 0.0
    c.train.num_steps = 500_000
    c.train.log_every = 500
    c.train.checkpoint_every = 5000
    c.train.sample_every = 20_000
    c.train.num_sample_images = 16
    c.eval.every = 20_000
    c.eval.batch_size = 200
    return c


def get_config(arg=None):
    return default.select_preset({"default": _digits, "categorical": _categorical_digits,
                                  "cifar10": _cifar10}, arg,
                                 "configs/pixelcnn.py")()
