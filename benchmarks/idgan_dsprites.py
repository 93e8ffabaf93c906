"""ID-GAN on procedural dSprites: disentanglement of the stage-1 encoder and of the generator,
and sample sharpness against the beta-VAE decoder and real images.

  python -m benchmarks.idgan_dsprites --workdir=/tmp/idgan_run

Given a finished ID-GAN workdir W (its stage-1 run in model.stage1_workdir, W/stage1 by default):
- encoder: MIG and FactorVAE score of x -> E(x) (the frozen encoder's posterior mean);
- generator (by re-encoding): x -> E(G(s, E(x))) with fresh s ~ N(0, I) per image; a generator
  that renders c faithfully and keeps s out of the code's factors scores like the encoder;
- sharpness: mean variance of the Laplacian (4-neighbour, pixels in [0, 1]) and mean absolute
  gradient (forward differences) of 1000 ID-GAN samples, 1000 beta-VAE decoder means from the
  prior N(0, I) and from the same aggregate-posterior bank the ID-GAN samples c from, and 1000
  real training images.
Prints and writes benchmarks/results/idgan_dsprites.json. MIG uses --num_points codes; the
FactorVAE score --factorvae_train / --factorvae_eval votes of 64 images each (disentanglement_lib
uses 10,000 / 5,000; fewer here so the generator path, three networks per image, fits a CPU).
"""

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import genmodels
from genmodels import data
from genmodels.data import to_uint8
from genmodels.methods import idgan
from genmodels.metrics import disentanglement

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "idgan_dsprites.json")
BATCH = 512


def laplacian_variance(images) -> float:
    """Mean over images of the variance of the 4-neighbour Laplacian of x / 255 (per channel)."""
    x = np.asarray(images, np.float64)[..., 0] / 255.0
    lap = (x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:]
           - 4 * x[:, 1:-1, 1:-1])
    return float(np.mean(np.var(lap.reshape(len(x), -1), axis=1)))


def mean_abs_gradient(images) -> float:
    x = np.asarray(images, np.float64)[..., 0] / 255.0
    return float((np.mean(np.abs(np.diff(x, axis=1))) + np.mean(np.abs(np.diff(x, axis=2)))) / 2)


def in_batches(fn, x, batch=BATCH):
    return np.concatenate([np.asarray(fn(x[i:i + batch])) for i in range(0, len(x), batch)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--num_points", type=int, default=10_000)
    parser.add_argument("--factorvae_train", type=int, default=1000)
    parser.add_argument("--factorvae_eval", type=int, default=500)
    parser.add_argument("--num_sharpness", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args()
    start = time.perf_counter()

    model = genmodels.load(args.workdir)
    config, info = model.config, model.info
    if info.name != "dsprites":
        raise SystemExit(f"{args.workdir} trained on {info.name!r}; this benchmark needs dsprites.")
    stage1 = genmodels.load(config.model.stage1_workdir)
    g_vars = model.variables["generator"]
    generator = idgan.generator_module(config, info)
    nuisance = config.model.nuisance_dim
    encode = jax.jit(model.method.encode)
    regenerate = jax.jit(lambda v, x, s: model.method.encode(v, to_uint8(idgan.generate_images(
        generator, v["generator"], s, model.method.encode(v, x)))))
    noise = {"key": jax.random.PRNGKey(args.seed + 100)}

    def encoder_fn(images):
        return in_batches(lambda x: encode(model.variables, jnp.asarray(x)), images)

    def generator_fn(images):
        def one(x):
            noise["key"], key = jax.random.split(noise["key"])  # fresh s for every image
            return regenerate(model.variables, jnp.asarray(x), jax.random.normal(
                key, (len(x), nuisance)))
        return in_batches(one, images)

    dataset = disentanglement.DSpritesGroundTruth(info.shape[0])
    results = {"workdir": os.path.abspath(args.workdir), "step": int(model.step),
               "stage1_workdir": config.model.stage1_workdir, "stage1_step": int(stage1.step),
               "mig_num_points": args.num_points, "factorvae_num_train": args.factorvae_train,
               "factorvae_num_eval": args.factorvae_eval}
    for name, fn in (("encoder", encoder_fn), ("generator", generator_fn)):
        t = time.perf_counter()
        codes, factors = disentanglement.factor_codes(fn, dataset, args.num_points, args.seed)
        results[f"mig/{name}"] = disentanglement.mig(codes, factors)
        results[f"factorvae_score/{name}"] = disentanglement.factorvae_score(
            fn, dataset, args.seed + 1, num_train=args.factorvae_train,
            num_eval=args.factorvae_eval)
        results[f"seconds/{name}_metrics"] = time.perf_counter() - t
        print(f"{name}: mig={results[f'mig/{name}']:.4f} "
              f"factorvae={results[f'factorvae_score/{name}']:.4f}", flush=True)

    n = args.num_sharpness
    bank = g_vars[idgan.STAGE1]["bank"]
    codes = np.asarray(jax.jit(idgan.sample_codes, static_argnums=2)(
        bank, jax.random.PRNGKey(args.seed + 1), n))
    source = data.get_source(config.data, "train")
    rows = np.random.default_rng(args.seed).choice(len(source), n, replace=False)
    sets = {
        "idgan": model.sample(n, seed=args.seed),
        "betavae_prior": stage1.sample(n, seed=args.seed),
        "betavae_aggregate_posterior": stage1.decode(codes),
        "real": source.read_batch(np.sort(rows))["image"],
    }
    for name, images in sets.items():
        results[f"laplacian_var/{name}"] = laplacian_variance(images)
        results[f"mean_abs_grad/{name}"] = mean_abs_gradient(images)
        results[f"binary_fraction/{name}"] = float(np.mean((images < 26) | (images > 229)))
    results["num_sharpness_images"] = n
    # How well G renders c: mean |E(G(0, c)) - c| over the bank codes (in code units).
    redecoded = encoder_fn(model.decode(codes))
    results["code_error/generator_s0"] = float(np.mean(np.abs(redecoded - codes)))
    results["code_error/betavae_decoder"] = float(np.mean(np.abs(encoder_fn(
        stage1.decode(codes)) - codes)))
    results["seconds/total"] = time.perf_counter() - start
    print(json.dumps(results, indent=2, sort_keys=True))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
