"""Feature extractors for FID / IS / KID / precision-recall / density-coverage.

`eval.features` picks one (docs/evaluation.md):
- "inception": pool3 (2048) of the FID InceptionV3, and its 1008-way logits when the weights
  have them (inception.py: the `fid` extra's weights have none, so no IS);
- "classifier": a small CNN trained on demand on the dataset's train split, on its labels
  (digits, mnist, cifar10, ...) or, for dsprites, on the factor pair shape x scale (18 classes);
  features are its 128-d penultimate layer, logits its class scores; cached on disk with its
  test accuracy;
- "random": a fixed random-weight conv net (seed 0), for datasets with neither labels nor
  factors (`patches`); features only (no IS);
- "auto": inception when its weights are found and the images are RGB of >= 32 px, else
  classifier when the dataset has labels or factors, else random.

Extraction is jitted, batched and sharded over the mesh's data axis, and streams: only the
features of each batch are kept on the host.
"""

import dataclasses
import json
import logging
import os
import sys
import time
from typing import Callable, Iterable, Iterator, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from genmodels import data, parallel
from genmodels.data.pipeline import host_rows
from genmodels.metrics import fid as fid_lib
from genmodels.metrics import inception, inception_convert

log = logging.getLogger(__name__)

FEATURE_KINDS = ("auto", "inception", "classifier", "random")
CLASSIFIER_VERSION = "cnn-v1"  # Bump when SmallCNN or its training changes (cache key).
RANDOM_VERSION = "randconv-v1"


@dataclasses.dataclass
class FeatureExtractor:
    """apply(params, uint8 images [B, H, W, C]) -> {"features": [B, D], "logits"?: [B, K]}.

    name identifies the network and its weights in reference-statistics cache keys;
    details holds what reports should show (e.g. the classifier's test accuracy)."""

    kind: str
    name: str
    apply: Callable
    params: object
    has_logits: bool
    details: dict = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Networks.

def _to_signed(images):
    return images.astype(jnp.float32) / 127.5 - 1.0


class SmallCNN(nn.Module):
    """conv3x3(32) -> conv3x3(64, /2) -> conv3x3(128, /2) -> global mean -> dense(128)
    [features] -> dense(num_classes) [logits]; the first conv has stride 2 from 32 px up."""

    num_classes: int

    @nn.compact
    def __call__(self, images):
        x = _to_signed(images)
        x = nn.relu(nn.Conv(32, (3, 3), 2 if x.shape[1] >= 32 else 1)(x))
        x = nn.relu(nn.Conv(64, (3, 3), 2)(x))
        x = nn.relu(nn.Conv(128, (3, 3), 2)(x))
        features = nn.relu(nn.Dense(128)(jnp.mean(x, axis=(1, 2))))
        return {"features": features, "logits": nn.Dense(self.num_classes)(features)}


class RandomConvNet(nn.Module):
    """Untrained conv net (fixed init): 3 x [conv3x3 stride 2, ReLU] with 64/128/256 channels;
    features = spatial means of the three layers' activations, concatenated (448-d)."""

    @nn.compact
    def __call__(self, images):
        x, pooled = _to_signed(images), []
        for width in (64, 128, 256):
            x = nn.relu(nn.Conv(width, (3, 3), 2)(x))
            pooled.append(jnp.mean(x, axis=(1, 2)))
        return {"features": jnp.concatenate(pooled, -1)}


def _inception_apply(params, images):
    out = inception.InceptionV3(logits="fc" in params).apply({"params": params}, images)
    return {"features": out["pool3"], **({"logits": out["logits"]} if "logits" in out else {})}


def inception_extractor(weights: str | None = None, cache: str | None = None,
                        logits: bool = False) -> FeatureExtractor:
    """The FID Inception extractor from inception.require_weights(weights, logits); a
    TorchScript file is converted once into cache_dir(cache)."""
    path = inception.require_weights(weights, logits)
    params = inception_convert.load_params(path, cache)
    return FeatureExtractor("inception", f"inception-2015-12-05-{fid_lib.file_digest(path)}",
                            _inception_apply, params, "fc" in params)


# ---------------------------------------------------------------------------------------------
# Which extractor.

def classifier_target(info) -> Optional[tuple[str, int]]:
    """(description, number of classes) the classifier learns on this dataset, or None."""
    if info.num_classes:
        return "label", info.num_classes
    if info.factor_names and "shape" in info.factor_names and "scale" in info.factor_names:
        sizes = dict(zip(info.factor_names, info.factor_sizes))
        return "shape_x_scale", sizes["shape"] * sizes["scale"]
    return None


def targets_of(batch: dict, info) -> np.ndarray:
    """Class index of each example: its label, or shape * num_scales + scale for dsprites."""
    if info.num_classes:
        return np.asarray(batch["label"], np.int32)
    names, sizes = info.factor_names, info.factor_sizes
    factors = np.asarray(batch["factors"])
    scale = names.index("scale")
    return (factors[:, names.index("shape")] * sizes[scale] + factors[:, scale]).astype(np.int32)


def resolve_kind(eval_config, info) -> str:
    """eval.features with "auto" resolved (see the module docstring)."""
    kind = eval_config.features
    if kind not in FEATURE_KINDS:
        raise ValueError(f"Unknown eval.features={kind!r}; valid: {', '.join(FEATURE_KINDS)}.")
    if kind != "auto":
        if kind == "classifier" and classifier_target(info) is None:
            raise ValueError(f"eval.features='classifier' needs labels or factors; dataset "
                             f"{info.name!r} has neither (use 'random' or 'inception').")
        return kind
    weights = inception.weights_path(eval_config.inception_weights)
    h, _, c = info.shape
    if weights is not None and c == 3 and h >= 32:
        return "inception"
    return "classifier" if classifier_target(info) is not None else "random"


def make_extractor(config, info, kind: str | None = None) -> FeatureExtractor:
    """The extractor of `config` (eval.features) for dataset `info`; trains or loads the
    classifier when that is the choice."""
    kind = kind or resolve_kind(config.eval, info)
    if kind == "inception":
        return inception_extractor(config.eval.inception_weights, config.eval.cache_dir)
    if kind == "random":
        net = RandomConvNet()
        params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, *info.shape), jnp.uint8))
        return FeatureExtractor("random", RANDOM_VERSION, net.apply, params, False)
    params, details = cached_classifier(config, info)
    net = SmallCNN(classifier_target(info)[1])
    name = f"{CLASSIFIER_VERSION}-{details['target']}-{details['digest']}"
    return FeatureExtractor("classifier", name, net.apply, params, True, details)


# ---------------------------------------------------------------------------------------------
# The in-project classifier: trained on demand, cached with its test accuracy.

def _classifier_settings(config, info) -> dict:
    target, num_classes = classifier_target(info)
    return {"version": CLASSIFIER_VERSION, "dataset": info.name, "shape": list(info.shape),
            "target": target, "num_classes": num_classes,
            "steps": int(config.eval.classifier_steps),
            "batch_size": 128, "learning_rate": 1e-3, "seed": 0}


def _read_examples(source, indices) -> dict:
    return source.read_batch(np.asarray(indices))


def train_classifier(data_config, info, settings: dict) -> tuple[dict, float]:
    """Trains SmallCNN on the train split (Adam, cross-entropy); returns (variables, test
    accuracy on the whole test split)."""
    net = SmallCNN(settings["num_classes"])
    train = data.get_source(data_config, "train")
    rng = np.random.default_rng(settings["seed"])
    variables = net.init(jax.random.PRNGKey(settings["seed"]),
                         jnp.zeros((1, *info.shape), jnp.uint8))
    opt = optax.adam(settings["learning_rate"])
    opt_state = opt.init(variables)

    @jax.jit
    def step(variables, opt_state, images, labels):
        def loss_fn(v):
            logits = net.apply(v, images)["logits"]
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        loss, grads = jax.value_and_grad(loss_fn)(variables)
        updates, opt_state = opt.update(grads, opt_state, variables)
        return optax.apply_updates(variables, updates), opt_state, loss

    b, start = settings["batch_size"], time.perf_counter()
    for i in range(settings["steps"]):
        batch = _read_examples(train, rng.integers(len(train), size=b))
        variables, opt_state, loss = step(variables, opt_state, batch["image"],
                                          targets_of(batch, info))
        if (i + 1) % 500 == 0:
            log.info("feature classifier step %d/%d: loss %.4f (%.0fs)", i + 1,
                     settings["steps"], float(loss), time.perf_counter() - start)
    return variables, classifier_accuracy(net, variables, data.get_source(data_config, "test"),
                                          info)


def classifier_accuracy(net, variables, source, info, batch_size: int = 500) -> float:
    predict = jax.jit(lambda v, x: jnp.argmax(net.apply(v, x)["logits"], -1))
    correct = 0
    for start in range(0, len(source), batch_size):
        batch = _read_examples(source, np.arange(start, min(start + batch_size, len(source))))
        correct += int(np.sum(np.asarray(predict(variables, batch["image"]))
                              == targets_of(batch, info)))
    return correct / len(source)


def cached_classifier(config, info) -> tuple[dict, dict]:
    """(variables, details) of the dataset's feature classifier from
    cache_dir/classifiers/<key>.npz (+ .json with the test accuracy), training it if absent."""
    settings = _classifier_settings(config, info)
    digest = fid_lib.json_digest(settings)
    directory = os.path.join(fid_lib.cache_dir(config.eval.cache_dir), "classifiers")
    stem = os.path.join(directory, f"{info.name}_{info.shape[0]}px_{digest}")
    if os.path.exists(stem + ".npz") and os.path.exists(stem + ".json"):
        with open(stem + ".json") as f:
            details = json.load(f)
        template = SmallCNN(settings["num_classes"]).init(
            jax.random.PRNGKey(0), jnp.zeros((1, *info.shape), jnp.uint8))
        with np.load(stem + ".npz") as f:
            leaves = [f[f"arr_{i}"] for i in range(len(f.files))]
        return jax.tree.unflatten(jax.tree.structure(template), leaves), details
    log.info("Training the %s feature classifier (%d steps); cached in %s.npz.", info.name,
             settings["steps"], stem)
    variables, accuracy = train_classifier(config.data, info, settings)
    details = {**settings, "digest": digest, "test_accuracy": accuracy}
    log.info("Feature classifier test accuracy on %s: %.4f.", info.name, accuracy)
    if jax.process_index() == 0:
        os.makedirs(directory, exist_ok=True)
        np.savez(stem + ".tmp.npz", *[np.asarray(x) for x in jax.tree.leaves(variables)])
        os.replace(stem + ".tmp.npz", stem + ".npz")
        with open(stem + ".json.tmp", "w") as f:
            json.dump(details, f, indent=2, sort_keys=True)
        os.replace(stem + ".json.tmp", stem + ".json")
    return variables, details


# ---------------------------------------------------------------------------------------------
# Streaming, sharded extraction.

def jit_extractor(extractor: FeatureExtractor, mesh):
    """images (global, sharded on `data`) -> replicated outputs, jitted once per extractor."""
    fn = jax.jit(extractor.apply, in_shardings=(parallel.replicated(mesh),
                                                parallel.data_sharding(mesh)),
                 out_shardings=parallel.replicated(mesh))
    return lambda images: fn(extractor.params, images)


def progress(iterable: Iterable, total: int, desc: str) -> Iterator:
    """tqdm on an interactive terminal when installed, else a log line every ~10%."""
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm  # noqa: PLC0415 (optional)

            yield from tqdm(iterable, total=total, desc=desc, leave=False)
            return
        except ImportError:
            pass
    every, start = max(1, total // 10), time.perf_counter()
    for i, item in enumerate(iterable):
        yield item
        if total >= 10 and (i + 1) % every == 0:
            log.info("%s: %d/%d batches (%.0fs)", desc, i + 1, total,
                     time.perf_counter() - start)


def extract(apply_fn, batches: Iterable, total: int, desc: str = "features") -> dict:
    """Runs `apply_fn` on each (global images array, host mask [B] or None) of `batches` and
    returns the host outputs of the rows where mask is True, concatenated."""
    outputs: dict[str, list] = {}
    for images, mask in progress(batches, total, desc):
        out = parallel.to_host(apply_fn(images))
        for k, v in out.items():
            outputs.setdefault(k, []).append(v if mask is None else v[np.asarray(mask)])
    return {k: np.concatenate(v).astype(np.float32) for k, v in outputs.items()}


def dataset_batches(data_config, split: str, num: int, batch_size: int, mesh,
                    seed: int = 0) -> tuple[Iterator, int]:
    """(iterator of (global uint8 images, mask), number of batches) over `num` examples of the
    split: all of it in order when num >= its size, else a fixed random subset (sorted)."""
    source = data.get_source(data_config, split)
    if num >= len(source):
        indices = np.arange(len(source))
    else:
        indices = np.sort(np.random.default_rng(seed).choice(len(source), num, replace=False))
    rows, sharding = host_rows(batch_size, None, None), parallel.data_sharding(mesh)
    chunks = [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]

    def generate():
        for chunk in chunks:
            mask = np.arange(batch_size) < len(chunk)
            padded = np.pad(chunk, (0, batch_size - len(chunk)))
            images = source.read_batch(padded[rows])["image"]
            yield parallel.global_batch({"image": images}, sharding)["image"], mask

    return generate(), len(chunks)


def reference_features(config, info, extractor: FeatureExtractor, apply_fn, mesh) -> dict:
    """Cached reference features/statistics of eval.reference_split (see fid.cached_reference)."""
    split = config.eval.reference_split
    num = min(int(config.eval.num_real), len(data.get_source(config.data, split)))
    key = fid_lib.reference_key(info.name, split, info.shape[0], extractor.name, num)

    def compute():
        batches, total = dataset_batches(config.data, split, num,
                                         config.eval.feature_batch_size, mesh)
        out = extract(apply_fn, batches, total, f"reference features ({info.name}/{split})")
        return out["features"], out.get("logits")

    ref = fid_lib.cached_reference(fid_lib.cache_dir(config.eval.cache_dir), key, compute)
    ref["reference"] = f"{info.name}/{split}@{info.shape[0]}px"
    return ref
