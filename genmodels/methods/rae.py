"""Regularised deterministic autoencoders, RAE (Ghosh et al., ICLR 2020), and the plain AE.

Per image, with x in [-1, 1] and z = E(x):
  L(x) = ||x - D(z)||^2 + beta * 1/2 ||z||^2 + lambda * L_REG
  L_REG = 0                          (model.regularizer="none": the AE when beta = 0)
        = sum_theta ||theta_D||^2     ("l2": weight decay of every decoder parameter)
        = ||grad_z D(z)||^2           ("gp": the decoder Jacobian at z = E(x), model.gp_form)
  "spectral_norm": every decoder layer is spectrally normalised (a constraint, L_REG = 0); the
  power-iteration vectors ("spectral" collection) are updated by the training loss only.
Sampling is by ex-post density estimation (paper, section 4): after training, a density is
fitted on the codes of up to model.density_num_examples training images (`prepare_sampling`,
on the host, scikit-learn), stored as fixed-shape arrays in the "density" collection, and
`sample` decodes z ~ that density: "gaussian" (one full-covariance Gaussian) or "gmm"
(model.density_components full-covariance components, 10 in the paper).
There is no likelihood, hence no bpd: D(z) is a point, not a distribution over images.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genmodels import data as gdata
from genmodels import models
from genmodels.data import to_signed, to_uint8
from genmodels.methods.base import Method, Player
from genmodels.metrics.names import DISENTANGLEMENT_METRICS, RECONSTRUCTION_METRICS
from genmodels.nn import check_upsample_kind
from genmodels.nn.spectral import COLLECTION as SPECTRAL
from genmodels import parallel
from genmodels.methods.optim import make_optimizer

REGULARIZERS = ("none", "l2", "gp", "spectral_norm")
DENSITIES = ("gaussian", "gmm")
GP_FORMS = ("frobenius", "hutchinson", "output_sum")
DENSITY = "density"  # The collection of the fitted ex-post density.
COVARIANCE_JITTER = 1e-6  # Added to covariance diagonals (scikit-learn's reg_covar default).
PSNR_MAX = 100.0  # PSNR of a perfect reconstruction (dB), instead of infinity.


# The config fields this method reads beyond the ones every config has (genmodels.config):
# methods.build refuses any other field, so a setting is never silently ignored.
CONFIG_FIELDS = ("model.beta", "model.decoder_features", "model.dense", "model.density",
                 "model.density_components", "model.density_num_examples",
                 "model.encoder_features", "model.gp_form", "model.latent_dim", "model.reg_weight",
                 "model.regularizer", "model.spectral_norm_iterations", "model.upsample", "optim")


class AutoEncoder(nn.Module):
    image_shape: tuple[int, int, int]
    latent_dim: int
    encoder_features: tuple[int, ...]
    decoder_features: tuple[int, ...]
    dense: int
    upsample: str = "subpixel"
    spectral_norm: int = 0  # Power iterations per train call; 0: no spectral normalisation.

    def setup(self):
        self.encoder = models.ConvEncoder(self.latent_dim, tuple(self.encoder_features),
                                          self.dense, deterministic=True)
        self.decoder = models.ConvDecoder(self.image_shape, self.image_shape[-1],
                                          tuple(self.decoder_features), self.dense, self.upsample,
                                          self.spectral_norm)

    def encode(self, x_signed):
        return self.encoder(x_signed, False)

    def decode(self, z, train: bool = False):
        """The reconstruction in [-1, 1] (un-squashed)."""
        return self.decoder(z, train)

    def __call__(self, x_signed, train: bool = False):
        return self.decode(self.encode(x_signed), train)


# --- regularisers (pure functions) ------------------------------------------------------------

def decoder_weight_decay(decoder_params) -> jax.Array:
    """L2 regulariser: the sum of squares of every decoder parameter."""
    return sum(jnp.sum(jnp.square(p)) for p in jax.tree.leaves(decoder_params))


def gradient_penalty(decode_fn, z, form: str, rng=None) -> jax.Array:
    """Per-example ||grad_z D(z)||^2 of decode_fn: [B, Z] -> [B, ...] (examples independent).

    frobenius:  ||J||_F^2 = sum_k ||J e_k||^2, exact (Z forward-mode products);
    hutchinson: ||J v||^2 with v ~ N(0, I), unbiased for ||J||_F^2 (one product);
    output_sum: ||J^T 1||^2, the gradient of the summed output (the RAE reference code)."""
    def sq_norm(t):
        return jnp.sum(jnp.square(t.reshape(t.shape[0], -1)), axis=-1)

    def jvp(v):
        return jax.jvp(decode_fn, (z,), (v,))[1]

    if form == "frobenius":
        basis = jnp.broadcast_to(jnp.eye(z.shape[-1])[:, None, :], (z.shape[-1], *z.shape))
        return jnp.sum(jax.vmap(lambda v: sq_norm(jvp(v)))(basis), axis=0)
    if form == "hutchinson":
        return sq_norm(jvp(jax.random.normal(rng, z.shape)))
    if form == "output_sum":
        out, vjp = jax.vjp(decode_fn, z)
        return sq_norm(vjp(jnp.ones_like(out))[0])
    raise ValueError(f"Unknown gradient-penalty form {form!r} (model.gp_form); valid: "
                     f"{', '.join(GP_FORMS)}.")


def reconstruction_metrics(x_uint8, recon_uint8) -> dict:
    """Per-example recon (pixel MSE on the [0, 1] scale) and psnr = 10 log10(1 / MSE) in dB."""
    diff = (x_uint8.astype(jnp.float32) - recon_uint8.astype(jnp.float32)) / 255.0
    mse = jnp.mean(jnp.square(diff.reshape(diff.shape[0], -1)), axis=-1)
    psnr = jnp.minimum(-10.0 * jnp.log10(jnp.maximum(mse, 1e-30)), PSNR_MAX)
    return {"recon": mse, "psnr": psnr}


# --- ex-post densities: fitted on the host, sampled in jit ------------------------------------

def fit_density(codes: np.ndarray, kind: str, components: int = 10, seed: int = 0) -> dict:
    """A full-covariance Gaussian ("gaussian", maximum likelihood) or GMM ("gmm", scikit-learn
    EM) on codes [N, Z], as fixed-shape arrays {"log_weights" [K], "means" [K, Z],
    "scale_tril" [K, Z, Z]} (K = 1 for the Gaussian; covariance = scale_tril scale_tril^T)."""
    codes = np.asarray(codes, np.float64)
    z = codes.shape[1]
    if kind == "gaussian":
        cov = np.cov(codes, rowvar=False, bias=True).reshape(z, z) + COVARIANCE_JITTER * np.eye(z)
        log_weights, means, covs = np.zeros(1), codes.mean(0, keepdims=True), cov[None]
    elif kind == "gmm":
        from sklearn.mixture import GaussianMixture  # Imported only when fitting a GMM.

        if len(codes) < components:
            raise ValueError(f"Cannot fit a {components}-component GMM (model.density_components)"
                             f" on {len(codes)} codes; lower it or use model.density=gaussian.")
        gmm = GaussianMixture(components, covariance_type="full", reg_covar=COVARIANCE_JITTER,
                              random_state=seed).fit(codes)
        log_weights, means, covs = np.log(gmm.weights_), gmm.means_, gmm.covariances_
    else:
        raise ValueError(f"Unknown density {kind!r} (model.density); valid: "
                         f"{', '.join(DENSITIES)}.")
    return {"log_weights": log_weights.astype(np.float32), "means": means.astype(np.float32),
            "scale_tril": np.linalg.cholesky(covs).astype(np.float32)}


def sample_density(density: dict, rng, n: int) -> jax.Array:
    """n codes from a density of `fit_density`: a component c ~ Cat(weights), then
    z = means[c] + scale_tril[c] eps, eps ~ N(0, I)."""
    c_rng, eps_rng = jax.random.split(rng)
    c = jax.random.categorical(c_rng, density["log_weights"], shape=(n,))
    eps = jax.random.normal(eps_rng, (n, density["means"].shape[-1]))
    return density["means"][c] + jnp.einsum("nij,nj->ni", density["scale_tril"][c], eps)


def training_codes(encode_fn, data_config, num: int, batch_size: int, seed: int) -> np.ndarray:
    """Codes of min(num, |train|) training images: a fixed random subset (seed), encoded in
    batches by encode_fn(x_uint8) -> z."""
    source = gdata.get_source(data_config, "train")
    num = min(num, len(source))
    index = np.sort(np.random.default_rng(seed).permutation(len(source))[:num])
    return np.concatenate([np.asarray(encode_fn(source.read_batch(index[i:i + batch_size])[
        "image"])) for i in range(0, num, batch_size)])


# --- the method -------------------------------------------------------------------------------

def _check_choice(value, valid, field):
    if value not in valid:
        raise ValueError(f"Unknown {field.split('.')[-1]} {value!r} ({field}); valid: "
                         f"{', '.join(valid)}.")


def check_config(m) -> None:
    """ValueErrors naming the field for every bad model.* setting."""
    _check_choice(m.regularizer, REGULARIZERS, "model.regularizer")
    _check_choice(m.density, DENSITIES, "model.density")
    _check_choice(m.gp_form, GP_FORMS, "model.gp_form")
    check_upsample_kind(m.upsample)
    for field in ("beta", "reg_weight"):
        if not m[field] >= 0:
            raise ValueError(f"model.{field}={m[field]!r} must be >= 0.")
    for field in ("latent_dim", "density_components", "density_num_examples",
                  "spectral_norm_iterations"):
        if not isinstance(m[field], int) or m[field] < 1:
            raise ValueError(f"model.{field}={m[field]!r} must be an integer >= 1.")


def build(config, info, name: str = "rae") -> Method:
    if info.kind != "image":
        raise ValueError(f"The {name} method needs an image dataset; data.name={info.name!r} is "
                         f"{info.kind}.")
    m = config.model
    check_config(m)
    models.check_divisible(info.shape, len(m.encoder_features), "model.encoder_features")
    models.check_divisible(info.shape, len(m.decoder_features), "model.decoder_features")
    sn = m.spectral_norm_iterations if m.regularizer == "spectral_norm" else 0
    ae = AutoEncoder(tuple(info.shape), m.latent_dim, tuple(m.encoder_features),
                     tuple(m.decoder_features), m.dense, m.upsample, sn)

    def loss_fn(params, collections, batch, rng):
        """Mean over the batch of the per-image RAE loss; `recon`/`psnr` as in evaluation."""
        variables = {"params": params["ae"], **collections.get("ae", {})}
        x = to_signed(batch["image"])
        z = ae.apply(variables, x, method=AutoEncoder.encode)
        if sn:
            out, updated = ae.apply(variables, z, True, method=AutoEncoder.decode,
                                    mutable=[SPECTRAL])
        else:
            out, updated = ae.apply(variables, z, True, method=AutoEncoder.decode), {}
        sq_error = jnp.sum(jnp.square(x - out).reshape(x.shape[0], -1), axis=-1)
        latent = 0.5 * jnp.sum(jnp.square(z), axis=-1)
        loss = jnp.mean(sq_error + m.beta * latent)
        metrics = {"sq_error": jnp.mean(sq_error), "latent_l2": jnp.mean(latent)}
        if m.regularizer == "l2":
            reg = decoder_weight_decay(params["ae"]["decoder"])
        elif m.regularizer == "gp":
            decode = functools.partial(ae.apply, variables, train=False,
                                       method=AutoEncoder.decode)
            reg = jnp.mean(gradient_penalty(decode, z, m.gp_form, rng))
        else:
            reg = None
        if reg is not None:
            loss = loss + m.reg_weight * reg
            metrics["reg"] = reg
        recon = jax.lax.stop_gradient(to_uint8(out))
        metrics.update({k: jnp.mean(v) for k, v in
                        reconstruction_metrics(batch["image"], recon).items()})
        return loss, (metrics, {"ae": updated} if updated else {})

    def init(rng, batch):
        return {"ae": ae.init(rng, to_signed(batch["image"][:1]))}

    def network(variables):
        """The autoencoder's own variables (without the fitted density)."""
        return {k: v for k, v in variables["ae"].items() if k != DENSITY}

    def encode(variables, x_uint8):
        return ae.apply(network(variables), to_signed(x_uint8), method=AutoEncoder.encode)

    def decode(variables, z):
        return to_uint8(ae.apply(network(variables), z, method=AutoEncoder.decode))

    def reconstruct(variables, x_uint8, rng=None):
        return decode(variables, encode(variables, x_uint8))

    def sample(variables, rng, n):
        if DENSITY not in variables["ae"]:
            raise ValueError(f"The {name} method samples from the ex-post density fitted by "
                             "Method.prepare_sampling; pass sampling_variables(method, variables).")
        return decode(variables, sample_density(variables["ae"][DENSITY], rng, n))

    jit_encode = jax.jit(encode)

    def prepare_sampling(variables):
        """Fits model.density on the training codes; the variables with it as "density"."""
        host = parallel.to_host(variables)  # Host copies: the encoder runs on local devices.
        codes = training_codes(functools.partial(jit_encode, host), config.data,
                               m.density_num_examples, config.eval.batch_size, config.seed)
        density = fit_density(codes, m.density, m.density_components, config.seed)
        return {**host, "ae": {**host["ae"], DENSITY: density}}

    def eval_fn(variables, batch, rng):
        return reconstruction_metrics(batch["image"], reconstruct(variables, batch["image"]))

    return Method(
        name=name,
        players=(Player("ae", loss_fn, make_optimizer(config.optim, "optim")),),
        schedule=(("ae", 1),),
        init=init, sample=sample, eval_fn=eval_fn, encode=encode, decode=decode,
        reconstruct=reconstruct, latent_dim=m.latent_dim,
        metrics=("recon",) + RECONSTRUCTION_METRICS + DISENTANGLEMENT_METRICS,
        prepare_sampling=prepare_sampling)
