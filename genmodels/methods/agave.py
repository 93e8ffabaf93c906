"""AGAVE: auxiliary guided autoregressive VAE (Lucas & Verbeek, ECML-PKDD 2018).

Encoder q(z|x) = N(mu(x), diag sigma^2(x)); a non-autoregressive decoder f(z) predicts an
auxiliary image y (model.aux_target: `image` y = x, `lowres` x average-pooled by aux_factor,
`quantized` x at aux_levels colour levels) with its own likelihood p(y|z); a PixelCNN++
p(x|z) = prod_i p(x_i | x_<i, f(z)) sees a map of f(z) (nearest-upsampled to H x W) in every
gated block: the decoder's last feature map (model.cond_source `features`) or its prediction of
y itself (`aux`: the mean of p(y|z) on the [-1, 1] scale, C channels). Training maximises (paper eq. 5)

  L = E_q[ln p(x|z)] + E_q[ln p(y|z)] - lambda KL(q(z|x) || N(0, I)),   lambda >= 1

(loss = -L / (D ln 2), one z per image, analytic KL). Since ln p(y|z) <= 0 for discrete y and
lambda >= 1, -loss is below the ELBO of x. Evaluation reports bits/dim of x only, from
  ln p(x) >= E_q[ln p(x|z)] - KL  (bpd_elbo)  and its IWAE-k form (bpd, k = eval.iwae_k),
with ln w_j = ln p(x|z_j) + ln p(z_j) - ln q(z_j|x) and `genmodels.distributions.iwae_bound`.

z-sensitivity (`z_sensitivity`, a field of the returned method, and `z_sensitivity(model)` for
`genmodels.load(W)`): mean absolute pixel difference (0..255 levels) between samples that share
the PixelCNN's sampling noise but have independent z ~ p(z) (`z_change`), and between samples
that share z but not the noise (`noise_change`). z_change = 0 means the decoder ignores z.
"""

import dataclasses
import math
from typing import Callable, Optional

import flax.linen as nn
from flax import traverse_util
import jax
import jax.numpy as jnp

from genmodels import distributions as dist
from genmodels import models
from genmodels.data import to_signed
from genmodels.methods import pixelcnn as pixelcnn_method
from genmodels.metrics.names import DISENTANGLEMENT_METRICS, RECONSTRUCTION_METRICS
from genmodels.methods.base import Method, Player
from genmodels.losses.likelihood import check_iwae, importance_sampled, posterior_noise
from genmodels.models import pixelcnn as pcnn
from genmodels.methods.optim import make_optimizer

AUX_TARGETS = ("image", "lowres", "quantized")
COND_SOURCES = ("features", "aux")
DECODE_NOISE_SEED = 0  # decode(z) samples p(x|z) with this fixed PixelCNN noise.


# The config fields this method reads beyond the ones every config has (genmodels.config):
# methods.build refuses any other field, so a setting is never silently ignored.
CONFIG_FIELDS = ("model.aux_factor", "model.aux_levels", "model.aux_target", "model.blocks_per_stage",
                 "model.cond_features", "model.cond_scale", "model.cond_source",
                 "model.decoder_features", "model.dense", "model.dropout", "model.ema_decay",
                 "model.encoder_features", "model.features", "model.kl_weight", "model.latent_dim",
                 "model.likelihood", "model.num_mixtures", "model.num_stages", "optim")


@dataclasses.dataclass(frozen=True)
class AgaveMethod(Method):
    """Method plus AGAVE's extras: z_sensitivity(variables, rng, n) -> {name: scalar} and
    decode_aux(variables, z) -> the auxiliary decoder's predicted mean of y, uint8."""

    z_sensitivity: Optional[Callable] = None
    decode_aux: Optional[Callable] = None


def aux_shape(target: str, image_shape, factor: int):
    h, w, c = image_shape
    return (h // factor, w // factor, c) if target == "lowres" else (h, w, c)


def aux_image(target: str, x_uint8, factor: int, levels: int):
    """y from x: x itself, x average-pooled by `factor` and rounded (uint8), or the colour
    level floor(x levels / 256) in {0..levels-1} (int32)."""
    if target == "image":
        return x_uint8
    if target == "lowres":
        b, h, w, c = x_uint8.shape
        blocks = x_uint8.astype(jnp.float32).reshape(b, h // factor, factor, w // factor,
                                                     factor, c)
        return jnp.round(blocks.mean(axis=(2, 4))).astype(jnp.uint8)
    return (x_uint8.astype(jnp.int32) * levels) // 256


def aux_outputs_per_channel(target: str, levels: int) -> int:
    """Discretised logistic (mean, log-scale) for image/lowres; `levels` logits for quantized."""
    return levels if target == "quantized" else 2


def aux_log_prob(target: str, y, out):
    """ln p(y | z) per image [B]; out [B, h, w, C, outputs_per_channel]."""
    if target == "quantized":
        lp = jnp.take_along_axis(jax.nn.log_softmax(out, -1), y[..., None], -1)[..., 0]
    else:
        lp = dist.discretized_logistic_log_prob(y, out[..., 0], out[..., 1])
    return jnp.sum(lp, axis=(1, 2, 3))


def level_midpoints(levels: int):
    """[levels] float32: the middle of each colour level of `quantized` on the uint8 scale,
    level l covering l 256 / L .. (l + 1) 256 / L - 1: (l + 0.5) 256 / L - 0.5 (for L dividing
    256 the exact middle of the level's uint8 values)."""
    return (jnp.arange(levels, dtype=jnp.float32) + 0.5) * 256.0 / levels - 0.5


def aux_mean_signed(target: str, out, levels: int):
    """The mean of p(y|z) on the [-1, 1] scale [B, h, w, C], differentiable: the logistic's
    location for image/lowres, the expected level midpoint for quantized."""
    if target != "quantized":
        return out[..., 0]
    centres = to_signed(level_midpoints(levels))
    return jnp.sum(jax.nn.softmax(out, -1) * centres, -1)


def aux_mean_uint8(target: str, out, levels: int):
    """The auxiliary prediction as a uint8 image (levels mapped to their midpoints)."""
    if target == "quantized":
        return jnp.round(level_midpoints(levels)[jnp.argmax(out, -1)]).astype(jnp.uint8)
    return jnp.clip(jnp.round((out[..., 0] + 1.0) * 127.5), 0, 255).astype(jnp.uint8)


class AGAVE(nn.Module):
    image_shape: tuple[int, int, int]
    aux_shape: tuple[int, int, int]
    latent_dim: int
    encoder_features: tuple[int, ...]
    decoder_features: tuple[int, ...]
    dense: int
    cond_features: int
    aux_outputs: int
    pixelcnn: pcnn.PixelCNNPP
    cond_scale: float = 1.0
    cond_source: str = "features"
    aux_target: str = "lowres"
    aux_levels: int = 4

    def setup(self):
        self.encoder = models.ConvEncoder(self.latent_dim, self.encoder_features, self.dense)
        self.aux_decoder = models.ConvDecoder(self.aux_shape, self.cond_features,
                                              self.decoder_features, self.dense)
        self.aux_head = nn.Dense(self.aux_shape[-1] * self.aux_outputs)

    def encode(self, x_signed):
        """(mean, log_scale) of q(z|x)."""
        return self.encoder(x_signed, False)

    def aux(self, z):
        """f(z): (aux likelihood parameters [B, h, w, C, outputs], conditioning map nearest-
        upsampled to the image size: [B, H, W, cond_features] or [B, H, W, C] for `aux`)."""
        h = nn.elu(self.aux_decoder(z, False))
        out = self.aux_head(h)
        out = out.reshape(out.shape[:-1] + (self.aux_shape[-1], self.aux_outputs))
        if self.cond_source == "aux":
            h = aux_mean_signed(self.aux_target, out, self.aux_levels)
        size = (h.shape[0], *self.image_shape[:2], h.shape[-1])
        return out, self.cond_scale * jax.image.resize(h, size, "nearest")

    def pixel(self, x_signed, cond, train: bool = False):
        """PixelCNN++ mixture parameters of p(x | z) given f(z)'s map."""
        return self.pixelcnn(x_signed, cond_map=cond, train=train)

    def __call__(self, x_signed, z):
        _, cond = self.aux(z)
        return self.encode(x_signed), self.pixel(x_signed, cond)


def check_config(m, image_shape) -> None:
    """ValueErrors naming the offending model.* field and its valid values."""
    if m.aux_target not in AUX_TARGETS:
        raise ValueError(f"Unknown aux target {m.aux_target!r} (model.aux_target); valid: "
                         f"{', '.join(AUX_TARGETS)}.")
    if not m.kl_weight >= 1.0:
        raise ValueError(f"model.kl_weight={m.kl_weight!r} must be >= 1 (lambda >= 1 keeps the "
                         "objective a lower bound on ln p(x)).")
    h, w = image_shape[:2]
    if m.aux_target == "lowres":
        f = m.aux_factor
        if not isinstance(f, int) or f < 2 or h % f or w % f:
            raise ValueError(f"model.aux_factor={f!r} must be an integer >= 2 dividing the "
                             f"image size {h}x{w}.")
    if m.aux_target == "quantized":
        if not isinstance(m.aux_levels, int) or not 2 <= m.aux_levels <= 128:
            raise ValueError(f"model.aux_levels={m.aux_levels!r} must be an integer in "
                             "[2, 128].")
    if m.cond_source not in COND_SOURCES:
        raise ValueError(f"Unknown conditioning source {m.cond_source!r} (model.cond_source); "
                         f"valid: {', '.join(COND_SOURCES)}.")
    if not m.cond_scale >= 0.0:
        raise ValueError(f"model.cond_scale={m.cond_scale!r} must be >= 0.")
    for name in ("latent_dim", "dense", "cond_features"):
        if not isinstance(m[name], int) or m[name] < 1:
            raise ValueError(f"model.{name}={m[name]!r} must be an integer >= 1.")
    pixelcnn_method.check_network_config(m, image_shape)


def build(config, info) -> Method:
    if info.kind != "image":
        raise ValueError(f"The agave method needs an image dataset; data.name={info.name!r} is "
                         f"{info.kind}.")
    m = config.model
    check_config(m, info.shape)
    iwae_k, iwae_chunk = check_iwae(config.eval)
    shape = tuple(info.shape)
    factor = m.aux_factor if m.aux_target == "lowres" else 1
    y_shape = aux_shape(m.aux_target, shape, factor)
    models.check_divisible(shape, len(m.encoder_features), "model.encoder_features")
    models.check_divisible(y_shape, len(m.decoder_features), "model.decoder_features")
    net = AGAVE(shape, y_shape, m.latent_dim, tuple(m.encoder_features),
                tuple(m.decoder_features), m.dense, m.cond_features,
                aux_outputs_per_channel(m.aux_target, m.aux_levels),
                pixelcnn_method.make_network(m), m.cond_scale,
                m.cond_source, m.aux_target, m.aux_levels)
    d = math.prod(shape)
    to_bits = 1.0 / (d * math.log(2))

    def log_px(variables, x_uint8, cond, dropout_rng=None):
        train = dropout_rng is not None
        out = net.apply(variables, to_signed(x_uint8), cond, train, method=AGAVE.pixel,
                        rngs={"dropout": dropout_rng} if train else None)
        return pcnn.log_prob(out, x_uint8, m.num_mixtures, pixelcnn_method.likelihood(m))

    def terms(variables, x_uint8, rng):
        """Per-example training terms (nats) from one z = mu + sigma eps, eps ~ N(0, I) drawn
        with split(rng)[0]; dropout uses split(rng)[1]."""
        z_rng, dropout_rng = jax.random.split(rng)
        mean, log_scale = net.apply(variables, to_signed(x_uint8), method=AGAVE.encode)
        z = dist.diag_gaussian_sample(z_rng, mean, log_scale)
        aux_out, cond = net.apply(variables, z, method=AGAVE.aux)
        y = aux_image(m.aux_target, x_uint8, factor, m.aux_levels)
        return {"log_px": log_px(variables, x_uint8, cond, dropout_rng),
                "log_py": aux_log_prob(m.aux_target, y, aux_out),
                "kl": jnp.sum(dist.kl_diag_gaussian_standard(mean, log_scale), -1)}

    def loss_fn(params, collections, batch, rng):
        t = terms({"params": params["agave"]}, batch["image"], rng)
        objective = t["log_px"] + t["log_py"] - m.kl_weight * t["kl"]  # L, per image.
        loss = -jnp.mean(objective) * to_bits
        metrics = {"bpd": -jnp.mean(t["log_px"] - t["kl"]) * to_bits, "kl": jnp.mean(t["kl"]),
                   "kl_bpd": jnp.mean(t["kl"]) * to_bits, "aux_nll": -jnp.mean(t["log_py"]),
                   "recon": -jnp.mean(t["log_px"])}
        return loss, (metrics, {})

    def iwae_terms(variables, x_uint8, rng):
        """bpd (IWAE-k), bpd_elbo, elbo/kl/recon (nats), kl_bpd, iwae_k, per example."""
        mean, log_scale = net.apply(variables, to_signed(x_uint8), method=AGAVE.encode)
        eps, _ = posterior_noise(rng, iwae_k, x_uint8.shape[0], m.latent_dim)

        def log_px_z_fn(z):
            _, cond = net.apply(variables, z, method=AGAVE.aux)
            return log_px(variables, x_uint8, cond)

        lp, bound, kl = importance_sampled(log_px_z_fn, mean, log_scale, eps, iwae_chunk)
        elbo = lp[0] - kl
        return {"bpd": -bound * to_bits, "bpd_elbo": -elbo * to_bits,
                "elbo": elbo, "kl": kl, "kl_bpd": kl * to_bits, "recon": -lp[0],
                "iwae_k": jnp.full_like(kl, iwae_k)}

    def init(rng, batch):
        """The PixelCNN starts where `configs/pixelcnn.py` with the same seed starts (its own
        init with the same key), so AGAVE and PixelCNN++ runs are paired comparisons; the
        conditioning projections start at zero."""
        x = to_signed(batch["image"][:1])
        params = traverse_util.flatten_dict(net.init(rng, x, jnp.zeros((1, m.latent_dim))))
        alone = traverse_util.flatten_dict(net.pixelcnn.init(rng, x))
        params.update({("params", "pixelcnn", *path[1:]): v for path, v in alone.items()})
        return {"agave": traverse_util.unflatten_dict(params)}

    def sample_given(variables, z, noise_rng):
        """x ~ p(x | z) with PixelCNN noise `noise_rng` (same key, same noise)."""
        v = variables["agave"]
        _, cond = net.apply(v, z, method=AGAVE.aux)
        return pcnn.sample(lambda x, c: net.apply(v, x, c, method=AGAVE.pixel), noise_rng,
                           z.shape[0], shape, m.num_mixtures, cond_map=cond,
                           row_multiple=pcnn.downsampling_factor(m.num_stages),
                           likelihood=pixelcnn_method.likelihood(m))

    def sample(variables, rng, n):
        z_rng, noise_rng = jax.random.split(rng)
        return sample_given(variables, jax.random.normal(z_rng, (n, m.latent_dim)), noise_rng)

    def encode(variables, x_uint8):
        return net.apply(variables["agave"], to_signed(x_uint8), method=AGAVE.encode)[0]

    def decode(variables, z):
        return sample_given(variables, z, jax.random.PRNGKey(DECODE_NOISE_SEED))

    def reconstruct(variables, x_uint8, rng):
        return sample_given(variables, encode(variables, x_uint8), rng)

    def decode_aux(variables, z):
        out, _ = net.apply(variables["agave"], z, method=AGAVE.aux)
        return aux_mean_uint8(m.aux_target, out, m.aux_levels)

    def z_sensitivity(variables, rng, n):
        """z_change / noise_change / ratio (module docstring) from n triples of samples."""
        za_rng, zb_rng, r1, r2 = jax.random.split(rng, 4)
        z_a = jax.random.normal(za_rng, (n, m.latent_dim))
        z_b = jax.random.normal(zb_rng, (n, m.latent_dim))
        x_a1, x_b1, x_a2 = (sample_given(variables, z, r).astype(jnp.float32)
                            for z, r in ((z_a, r1), (z_b, r1), (z_a, r2)))
        z_change = jnp.mean(jnp.abs(x_a1 - x_b1))
        noise_change = jnp.mean(jnp.abs(x_a1 - x_a2))
        return {"z_change": z_change, "noise_change": noise_change,
                "z_noise_ratio": z_change / jnp.maximum(noise_change, 1e-6)}

    return AgaveMethod(
        name="agave",
        players=(Player("agave", loss_fn, make_optimizer(config.optim, "optim"),
                        ema_decay=m.ema_decay or None),),
        schedule=(("agave", 1),),
        init=init, sample=sample,
        eval_fn=lambda variables, batch, rng: iwae_terms(variables["agave"], batch["image"], rng),
        encode=encode, decode=decode, reconstruct=reconstruct,
        bpd=lambda variables, x, rng: iwae_terms(variables["agave"], x, rng)["bpd"],
        latent_dim=m.latent_dim,
        metrics=("bpd", "elbo", "kl", "recon") + RECONSTRUCTION_METRICS + DISENTANGLEMENT_METRICS,
        z_sensitivity=z_sensitivity, decode_aux=decode_aux)


def z_sensitivity(model, n: int = 64, seed: int = 0) -> dict:
    """z_sensitivity of a run loaded with `genmodels.load(W)` (floats)."""
    fn = jax.jit(model.method.z_sensitivity, static_argnums=2)
    return {k: float(v) for k, v in fn(model.variables, jax.random.PRNGKey(seed), n).items()}
