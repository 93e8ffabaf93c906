"""Spectral normalisation (Miyato, Kataoka, Koyama, Yoshida 2018, "Spectral normalization for
generative adversarial networks").

`SpectralNorm(layer)` applies `layer` with every parameter of rank >= 2 (the kernel of a Dense or
Conv, the table of an Embed) replaced by W_SN = W / sigma(W), where sigma(W) is the top singular
value of W reshaped to [fan_in, out] (all leading axes flattened; a conv kernel [kh, kw, Cin, Cout]
becomes [kh*kw*Cin, Cout]). sigma is estimated by power iteration (paper, Algorithm 1) with a
persistent vector u in R^out stored in the "spectral" collection as `<param>_u`:
    train:  repeat n times { v <- l2n(W u); u <- l2n(W^T v) };  sigma = v^T W u
    eval:   v = l2n(W u) with the stored u, no update;           sigma = v^T W u = ||W u||
u and v are constants for the gradient (stop_gradient), so dL/dW includes the term through sigma
(paper, eq. 12). The new u is written back only when `train=True` and "spectral" is mutable
(`apply(..., mutable=["spectral"])`); in eval mode u is never touched. u starts as a normalised
N(0, I) draw from the "params" RNG.

Why not `flax.linen.SpectralNorm`: it is built on `map_variables(mutable=True)`, so at `init` it
writes the *normalised* kernel W0 / sigma(W0) into "params" instead of the initialiser's W0 (the
forward function is the same, but the parameter scale that the optimiser sees is not the paper's),
and `apply(..., mutable=True)` returns normalised params as "updates". Here the raw parameters are
created by calling the layer once, un-normalised, at init; the normalised view is read-only.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = Any
COLLECTION = "spectral"


def _l2_normalize(x: Array, eps: float) -> Array:
    return x / jnp.maximum(jnp.linalg.norm(x), eps)


def power_iteration_sigma(w: Array, u: Array, n_iterations: int, eps: float = 1e-12):
    """Top singular value of the matrix w [fan_in, out] by power iteration from u [out].

    Returns (sigma, u_new): n >= 1 steps of { v <- l2n(w u); u <- l2n(w^T v) } and
    sigma = v^T w u (paper, Algorithm 1); n = 0 gives sigma = ||w u|| at the given u (eval mode).
    sigma is differentiable in w; u and v are treated as constants.
    """
    w_ng = jax.lax.stop_gradient(w)
    v = _l2_normalize(w_ng @ u, eps)
    for i in range(n_iterations):
        if i:
            v = _l2_normalize(w_ng @ u, eps)
        u = _l2_normalize(w_ng.T @ v, eps)
    u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
    return v @ (w @ u), u


class SpectralNorm(nn.Module):
    """Applies `layer` with its weights divided by their spectral norm: `SpectralNorm(layer)(x,
    train, **layer_kwargs)`.

    Every "params" leaf of rank >= 2 is normalised (rank <= 1 leaves such as biases are left
    alone). `n_power_iterations` power-iteration steps run per call in train mode (1 in the paper);
    `n_power_iterations=0` disables the normalisation (the layer is applied as is, no "spectral"
    variables), which keeps the parameter tree of a network identical with and without SN.

    Pass a layer created with `parent=None` (as `sn_dense`/`sn_conv` do) to keep its params under
    this module (`params/<name>/layer/...`); a layer created inside a parent's compact method
    belongs to that parent, as usual in Flax. The "spectral" collection holds `<name>/<param>_u`.
    """

    layer: nn.Module
    n_power_iterations: int = 1
    eps: float = 1e-12

    @nn.compact
    def __call__(self, x, train: bool, **kwargs):
        if self.n_power_iterations < 0:
            raise ValueError(f"SpectralNorm: n_power_iterations must be >= 0; got "
                             f"{self.n_power_iterations}")
        if self.n_power_iterations == 0:
            return self.layer(x, **kwargs)
        if self.is_initializing():
            self.layer(x, **kwargs)  # Creates the raw (un-normalised) parameters.
        update = train and self.is_mutable_collection(COLLECTION)
        n_iterations = self.n_power_iterations if train else 0

        def normalize(path, w):
            if w.ndim < 2:
                return w
            name = "_".join(str(getattr(k, "key", k)) for k in path[1:]) + "_u"
            mat = w.reshape(-1, w.shape[-1])
            u_var = self.variable(
                COLLECTION, name,
                lambda: _l2_normalize(jax.random.normal(self.make_rng("params"),
                                                        (mat.shape[-1],), jnp.float32), self.eps))
            sigma, u = power_iteration_sigma(mat.astype(jnp.float32), u_var.value, n_iterations,
                                             self.eps)
            if update:
                u_var.value = u
            return (w / jnp.maximum(sigma, self.eps).astype(w.dtype)).astype(w.dtype)

        def trans_in(variables):
            return jax.tree_util.tree_map_with_path(normalize, variables)

        return nn.map_variables(lambda layer: layer(x, **kwargs), "params", trans_in_fn=trans_in,
                                init=False, mutable=False)(self.layer)


def sn_dense(features: int, *, n_power_iterations: int = 1, eps: float = 1e-12,
             name: str | None = None, **kw) -> SpectralNorm:
    """A spectrally normalised `nn.Dense(features, **kw)`; call it as `layer(x, train)`."""
    return SpectralNorm(nn.Dense(features, parent=None, **kw), n_power_iterations, eps, name=name)


def sn_conv(features: int, kernel_size: int | Sequence[int] = (3, 3),
            strides: int | Sequence[int] = (1, 1), *, n_power_iterations: int = 1,
            eps: float = 1e-12, name: str | None = None, **kw) -> SpectralNorm:
    """A spectrally normalised `nn.Conv(features, kernel_size, strides, **kw)` (padding "SAME"
    unless given); call it as `layer(x, train)`."""
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    kw.setdefault("padding", "SAME")
    return SpectralNorm(nn.Conv(features, kernel_size, strides, parent=None, **kw),
                        n_power_iterations, eps, name=name)


def sn_embed(num_embeddings: int, features: int, *, n_power_iterations: int = 1,
             eps: float = 1e-12, name: str | None = None, **kw) -> SpectralNorm:
    """A spectrally normalised `nn.Embed` (table [num_embeddings, features], as SNEmbedID in the
    projection-discriminator code); call it as `layer(labels, train)`."""
    return SpectralNorm(nn.Embed(num_embeddings, features, parent=None, **kw), n_power_iterations,
                        eps, name=name)
