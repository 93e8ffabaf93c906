"""beta-VAE (Higgins et al., ICLR 2017): the vae method with a Bernoulli decoder and beta > 1,
  L(x) = -E_q(z|x)[ln p(x|z)] + beta * KL(q(z|x) || N(0, I)),
on procedural dSprites (10 latents, as Higgins et al. and ID-GAN's stage 1).

beta = 4: Higgins et al.'s dSprites setting (their disentanglement-metric model). ID-GAN's
stage 1 uses beta = 8 (REFERENCES.md): preset `idgan`. The default runs at 32x32
(data.image_size=32) to train in a few CPU minutes; `dsprites64` is the paper scale (64x64, the
conv net of Burgess et al. 2018 / disentanglement_lib: 4 stride-2 convs 32-32-64-64, dense 256,
Adam 1e-4, batch 64, 300k steps; Higgins et al. used MLPs on dSprites). Activations are the
vae nets' swish, not ReLU. Presets: default, dsprites64, idgan, celeba64 (Gaussian decoder,
32 latents; beta not tuned for it).
  python -m experiments.main --config=configs/betavae.py --workdir=/tmp/betavae
  python -m experiments.main --config=configs/betavae.py:dsprites64 --workdir=/tmp/bvae64
"""

from configs import default, vae


def _dsprites32():
    c = vae.get_config()
    c.data.name = "dsprites"
    c.data.image_size = 32
    c.data.batch_size = 64
    c.model.update(dict(
        latent_dim=10,
        encoder_features=(32, 32, 64),  # 32 -> 4x4x64
        decoder_features=(64, 32, 32),
        dense=256,
        likelihood="bernoulli",  # dSprites pixels are 0 or 255: targets x / 255 are binary.
        beta=4.0,
    ))
    c.optim = default.adam(5e-4)
    c.train.num_steps = 3000
    c.train.log_every = 100
    c.train.checkpoint_every = 1000
    c.train.sample_every = 1000
    c.eval.every = 1000
    c.eval.batch_size = 256
    c.eval.num_examples = 2048
    # The Bernoulli decoder has no bpd: test ELBO terms and MIG (Chen et al. 2018).
    c.eval.metrics = ("elbo", "kl", "recon", "mig")
    c.eval.iwae_k = 1  # The ELBO terms only (the IWAE bound costs k decodes per image).
    c.eval.iwae_chunk = 1
    return c


def _dsprites64():
    c = _dsprites32()
    c.data.image_size = 64
    c.model.encoder_features = (32, 32, 64, 64)  # 64 -> 4x4x64
    c.model.decoder_features = (64, 64, 32, 32)
    c.optim = default.adam(1e-4)
    c.train.num_steps = 300_000  # Higgins et al. / disentanglement_lib: 300k steps.
    c.train.log_every = 1000
    c.train.checkpoint_every = 10_000
    c.train.sample_every = 10_000
    c.eval.every = 50_000
    c.eval.num_examples = 10_000
    return c


def _idgan():
    c = _dsprites64()
    c.model.beta = 8.0  # ID-GAN stage 1 on dSprites.
    return c


def _celeba64():
    c = _dsprites64()
    c.data.name = "celeb_a"
    c.data.image_size = 64
    c.model.latent_dim = 32
    c.model.likelihood = "gaussian_fixed"  # Pixels are not binary.
    c.model.encoder_features = (32, 32, 64, 64)
    c.model.decoder_features = (64, 64, 32, 32)
    c.model.beta = 4.0
    c.eval.metrics = ("bpd",)  # No factors: no MIG.
    c.eval.iwae_k = 10  # 10k test images x k decodes per evaluation.
    return c


def get_config(arg=None):
    return default.select_preset({"default": _dsprites32, "dsprites64": _dsprites64,
                                  "idgan": _idgan, "celeba64": _celeba64}, arg,
                                 "configs/betavae.py")()
