"""VAE (Kingma & Welling 2014): conv encoder/decoder, Gaussian posterior, choice of likelihood.

Presets: default (digits, CPU minutes), cifar10 (paper scale).
  python -m experiments.main --config=configs/vae.py --workdir=/tmp/vae
  python -m experiments.main --config=configs/vae.py:cifar10 --workdir=/tmp/vae_cifar
"""

from configs import default


def _digits():
    c = default.base_config()
    c.method = "vae"
    c.data.name = "digits"
    c.data.batch_size = 64
    c.model = dict(
        latent_dim=16,
        encoder_features=(32, 64),
        decoder_features=(64, 32),
        dense=256,
        upsample="subpixel",  # or "transpose" (same function, slower weight gradient on CPU)
        # discretized_logistic | gaussian_fixed | gaussian_learned | bernoulli
        likelihood="discretized_logistic",
        gaussian_scale=0.1,  # sigma of gaussian_fixed, in [-1, 1] data units
        beta=1.0,  # weight of the KL term; > 1 gives the beta-VAE
    )
    c.optim = default.adam(1e-3)
    c.losses = dict(vae="elbo")
    c.train.num_steps = 1500  # Test bpd is flat from 1000 to 1500 steps, then overfits.
    c.train.log_every = 100
    c.train.checkpoint_every = 500
    c.train.sample_every = 500
    c.eval.every = 500
    c.eval.metrics = ("bpd",)
    # Test bpd is the IWAE-k bound (Burda et al. 2016; k=1 is the ELBO, also reported as
    # bpd_elbo). On digits (1500 steps): ELBO 3.610, k=100 3.510, k=1000 3.497 bpd. An
    # evaluation costs k decodes per test image: lower k (or eval.num_examples) for frequent
    # evals on larger test sets. The k decodes run iwae_chunk at a time (memory ~ iwae_chunk x
    # eval.batch_size images).
    c.eval.iwae_k = 100
    c.eval.iwae_chunk = 10
    return c


def _cifar10():
    c = _digits()
    c.data.name = "cifar10"
    c.model.latent_dim = 128
    c.model.encoder_features = (64, 128, 256)
    c.model.decoder_features = (256, 128, 64)
    c.model.dense = 1024
    c.optim.learning_rate = 2e-4
    c.train.num_steps = 200_000
    c.train.log_every = 500
    c.train.checkpoint_every = 5000
    c.train.sample_every = 5000
    c.eval.every = 10_000
    c.eval.batch_size = 500
    return c


def get_config(arg=None):
    return default.select_preset({"default": _digits, "cifar10": _cifar10}, arg,
                                 "configs/vae.py")()
