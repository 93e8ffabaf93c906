"""Trained runs as Python objects: `genmodels.load(W)`, plus the eval and sample modes."""

import io

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genmodels import data, evaluation, methods, parallel
from genmodels import workdir as workdir_lib
from genmodels.train.checkpoint import restore_run
from genmodels.workdir import load_config
from genmodels.train.images import image_grid, samples_to_image, save_png
from genmodels.train.state import inference_variables


def with_iwae_k(config, k: int) -> ml_collections.ConfigDict:
    """A copy of a run's config whose bpd is the IWAE bound with k importance samples."""
    if "iwae_k" not in config.eval:
        raise ValueError(f"method {config.method!r} has no IWAE bound (its config has no "
                         "eval.iwae_k), so its bpd does not depend on k; evaluate it without k.")
    config = config.copy_and_resolve_references()
    config.eval.iwae_k = k
    return config


TRAVERSAL_DIMS = 16  # Rows of traversals.png at most.


class TrainedModel:
    """A method with restored parameters. Methods without a latent space or likelihood raise
    a clear error from the tools they lack."""

    def __init__(self, config, method, info, state, step, mesh):
        self.config, self.method, self.info, self.state, self.step = config, method, info, state, step
        self.mesh = mesh
        self.variables = inference_variables(state)
        self._sampling_variables = None  # Filled on first sample() (e.g. the RAE's GMM fit).
        self._jitted = {}

    def _fn(self, name, **jit_kwargs):
        fn = getattr(self.method, name)
        if fn is None:
            raise NotImplementedError(f"Method {self.method.name!r} has no {name}().")
        if name not in self._jitted:
            self._jitted[name] = jax.jit(fn, **jit_kwargs)
        return self._jitted[name]

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        if self._sampling_variables is None:
            self._sampling_variables = methods.sampling_variables(self.method, self.variables)
        return parallel.to_host(self._fn("sample", static_argnums=2)(
            self._sampling_variables, jax.random.PRNGKey(seed), n))

    def encode(self, x) -> np.ndarray:
        return np.asarray(self._fn("encode")(self.variables, jnp.asarray(x)))

    def decode(self, z) -> np.ndarray:
        return np.asarray(self._fn("decode")(self.variables, jnp.asarray(z)))

    def reconstruct(self, x, seed: int = 0) -> np.ndarray:
        return np.asarray(self._fn("reconstruct")(self.variables, jnp.asarray(x),
                                                  jax.random.PRNGKey(seed)))

    def bpd(self, x, seed: int = 0) -> np.ndarray:
        return np.asarray(self._fn("bpd")(self.variables, jnp.asarray(x), jax.random.PRNGKey(seed)))

    def interpolate(self, x0, x1, num: int = 8) -> np.ndarray:
        """Decodes num points on the line between the posterior means of images x0 and x1."""
        z = self.encode(np.stack([x0, x1]))
        t = np.linspace(0.0, 1.0, num)[:, None]
        return self.decode((1 - t) * z[0] + t * z[1])

    def traverse(self, x, dims=None, values=np.linspace(-2.0, 2.0, 7)) -> np.ndarray:
        """Per-dimension latent traversals of one image x [H, W, C] (or [1, H, W, C]): encodes x
        to its posterior mean z, sets code dimension d to each of `values` (absolute values, not
        offsets; the prior is N(0, 1) for the VAEs) with the others kept, and decodes. Returns
        uint8 [len(dims), len(values), H, W, C]; dims default to every code dimension."""
        x = np.asarray(x)
        z = self.encode(x[None] if x.ndim == 3 else x)
        if z.shape[0] != 1:
            raise ValueError(f"traverse() takes one image; got {z.shape[0]}.")
        dims = list(range(z.shape[1])) if dims is None else [int(d) for d in dims]
        bad = [d for d in dims if not 0 <= d < z.shape[1]]
        if bad:
            raise ValueError(f"dims {bad} are outside the code's {z.shape[1]} dimensions.")
        values = np.asarray(values, z.dtype)
        codes = np.repeat(z, len(dims) * len(values), axis=0).reshape(
            len(dims), len(values), z.shape[1])
        for i, d in enumerate(dims):
            codes[i, :, d] = values
        images = self.decode(codes.reshape(-1, z.shape[1]))
        return images.reshape((len(dims), len(values)) + images.shape[1:])


def load(workdir: str, step: int | None = None, config=None) -> TrainedModel:
    """Restores the run in `workdir` at `step` (default: the latest checkpoint)."""
    config = config or load_config(workdir)
    mesh = parallel.make_mesh()
    method, info, state, step = restore_run(workdir, config, step, mesh)
    return TrainedModel(config, method, info, state, step, mesh)


def evaluate_checkpoint(workdir: str, step: int | None = None, metrics=None, config=None) -> dict:
    """Evaluates a checkpoint with `metrics` (default: the config's eval.metrics) and writes
    W/eval/step_<step>.json (merged into an existing file of that step); returns the results."""
    model = load(workdir, step, config)
    config = model.config
    if metrics is not None:
        config = config.copy_and_resolve_references()
        config.eval.metrics = tuple(metrics)
    evaluator = evaluation.Evaluator(model.method, config, model.mesh)
    seed_key = jax.random.PRNGKey(config.seed)
    results = {"step": int(model.step), "split": "test",
               **evaluator(model.variables, jax.random.fold_in(seed_key, workdir_lib.EVAL_KEY)),
               **evaluator.metadata}
    if jax.process_index() == 0:  # Keep the step's other metrics; new values win.
        results = workdir_lib.write_eval(workdir, model.step, results)
    return results


def traversal_dims(codes, max_dims: int = TRAVERSAL_DIMS) -> list[int]:
    """The code dimensions traversals.png shows: all of them up to max_dims, else the max_dims
    whose posterior means vary most over `codes` [n, L] (the informative ones), in order."""
    if codes.shape[1] <= max_dims:
        return list(range(codes.shape[1]))
    return sorted(np.argsort(-np.var(codes, axis=0))[:max_dims].tolist())


def write_samples(workdir: str, num_samples: int, seed: int = 0, config=None) -> str:
    """--mode=sample: W/samples/samples.npz (array "x" in data space) and, for latent models,
    reconstructions.png (test images over their reconstructions), interpolation.png and
    traversals.png (one row per code dimension, `traversal_dims`: the first test image's code
    with that dimension set to -2 ... 2, see TrainedModel.traverse)."""
    model = load(workdir, config=config)
    out_dir = workdir_lib.samples_dir(workdir)
    primary = jax.process_index() == 0  # Every process computes; process 0 writes.

    def save(name, picture):
        if primary:
            save_png(out_dir / name, picture)

    x = np.concatenate([model.sample(min(256, num_samples - i), seed + i)
                        for i in range(0, num_samples, 256)])
    path = workdir_lib.samples_file(workdir)
    if primary:
        out_dir.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, x=x)
        path.write_bytes(buffer.getvalue())
    save("samples.png", samples_to_image(x[:64], model.info.modes))
    if model.method.encode is not None:
        test = next(data.eval_batches(model.config.data, "test", batch_size=16))["image"]
        recon = model.reconstruct(test)
        save("reconstructions.png", image_grid(np.concatenate([test, recon]), columns=16))
        rows = [model.interpolate(test[2 * i], test[2 * i + 1], 10) for i in range(4)]
        save("interpolation.png", image_grid(np.concatenate(rows), columns=10))
        if model.method.decode is not None:
            dims = traversal_dims(model.encode(test))
            grid = model.traverse(test[0], dims)  # [dims, values, H, W, C]
            save("traversals.png",
                 image_grid(grid.reshape((-1,) + grid.shape[2:]), columns=grid.shape[1]))
    return str(path)
