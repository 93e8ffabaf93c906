"""The one home of config defaults: the fields every config has (DESIGN.md §4), optimizer
blocks and presets. Method configs (configs/*.py) start from `base_config()`."""

from typing import Mapping

from ml_collections import config_dict


def base_config() -> config_dict.ConfigDict:
    c = config_dict.ConfigDict()
    c.method = ""  # Name in genmodels.methods.METHODS.
    c.seed = 0

    c.data = config_dict.ConfigDict()
    c.data.name = "digits"
    c.data.batch_size = 64  # Global batch, split over hosts and devices.
    c.data.image_size = config_dict.placeholder(int)  # None: the dataset's own size.
    c.data.tfds_data_dir = config_dict.placeholder(str)
    # Train calls whose batches a background thread assembles and copies to the devices ahead
    # of use (0: none; docs/benchmarks.md).
    c.data.device_prefetch = 2

    c.train = config_dict.ConfigDict()
    c.train.num_steps = 2000
    c.train.log_every = 100
    c.train.checkpoint_every = 500
    c.train.keep_checkpoints = 3
    c.train.sample_every = 500
    c.train.num_sample_images = 64
    # JAX's persistent compilation cache: reruns and resumed runs load compiled steps from here
    # instead of recompiling. "" turns it off; JAX_COMPILATION_CACHE_DIR takes precedence.
    c.train.compilation_cache_dir = "~/.cache/genmodels/jax"
    c.train.tensorboard = True  # Event files need TensorFlow: pip install 'genmodels[tf]'.
    # Train steps per device call (a lax.scan over k batches): fewer dispatches and host round
    # trips for small models. Every train/eval interval must be a multiple of it. On CPU, for
    # MLPs only: XLA:CPU runs conv weight gradients ~100x slower inside a loop.
    c.train.steps_per_call = 1
    # "bfloat16": the train steps' matmuls and convolutions run in bf16 on bf16 copies of the
    # float32 params, everything else in float32 (genmodels.train.precision, docs/benchmarks.md).
    # For GPUs/TPUs; on CPU it is correct but slower.
    c.train.compute_dtype = "float32"
    # False: XLA:CPU runs dots with its own emitter instead of YNNPACK fusions, which are slower
    # for the 100-row matmuls of the 2-D mixture MLPs (docs/benchmarks.md). Applied through
    # XLA_FLAGS when the run starts JAX's backend (genmodels.parallel.configure_xla_cpu).
    c.train.cpu_ynn_fusions = True

    c.eval = config_dict.ConfigDict()
    c.eval.every = 1000  # 0 disables evaluation during training (it still runs at the end).
    c.eval.metrics = ("bpd",)
    c.eval.batch_size = 256
    c.eval.num_examples = config_dict.placeholder(int)  # None: the whole test split.
    # Sample-based metrics (fid, is, kid, precision, recall, density, coverage); see
    # docs/evaluation.md. The published protocol uses 50,000 samples (FID is biased by N).
    c.eval.num_samples = 10_000
    c.eval.num_real = 50_000  # Reference examples (capped at the split's size).
    c.eval.reference_split = "train"
    c.eval.feature_batch_size = 64  # Must divide by the device count.
    c.eval.features = "auto"  # auto | inception | classifier | random
    c.eval.inception_weights = config_dict.placeholder(str)  # else $GENMODELS_INCEPTION_WEIGHTS
    c.eval.cache_dir = config_dict.placeholder(str)  # else $GENMODELS_CACHE_DIR, ~/.cache/genmodels
    c.eval.classifier_steps = 1500  # Training steps of the in-project feature classifier.
    c.eval.is_splits = 10
    c.eval.kid_subsets = 100
    c.eval.kid_subset_size = 1000
    c.eval.pr_k = 3  # precision/recall (Kynkaanniemi et al. 2019)
    c.eval.dc_k = 5  # density/coverage (Naeem et al. 2020)
    c.eval.prdc_num_samples = 10_000  # Features per set for the k-NN metrics.
    c.eval.disentanglement_num_examples = 10_000  # mig, sap, dci codes.
    c.eval.disentanglement_num_train = 10_000  # beta_vae_score / factorvae_score points
    c.eval.disentanglement_num_eval = 5_000

    # Multi-host: set enabled=True (or export JAX_COORDINATOR_ADDRESS) to call
    # jax.distributed.initialize(); on TPU pods and SLURM the other fields are auto-detected.
    c.distributed = config_dict.ConfigDict()
    c.distributed.enabled = False
    c.distributed.coordinator_address = config_dict.placeholder(str)
    c.distributed.num_processes = config_dict.placeholder(int)
    c.distributed.process_id = config_dict.placeholder(int)
    return c


def adam(learning_rate: float, b1: float = 0.9, b2: float = 0.999) -> config_dict.ConfigDict:
    """An optimizer block: see genmodels.methods.optim.make_optimizer for the fields."""
    return config_dict.ConfigDict(dict(name="adam", learning_rate=learning_rate, b1=b1, b2=b2,
                                     weight_decay=0.0, grad_clip_norm=0.0, schedule="constant",
                                     decay_begin=0, decay_steps=0))


def select_preset(presets: dict, arg: str | None, config_file: str):
    """Returns presets[arg] (arg None or '' -> 'default'), or a ValueError listing the presets."""
    name = arg or "default"
    if name not in presets:
        raise ValueError(f"Unknown preset {name!r} for {config_file}; valid presets: "
                     f"{', '.join(sorted(presets))} (use --config={config_file}:PRESET).")
    return presets[name]


# Sections every config has (DESIGN.md §4); the others (model, losses, optim, schedule, ...)
# belong to the method, which declares the fields it reads.
COMMON_SECTIONS = ("method", "seed", "data", "train", "eval", "distributed")


def unread_fields(config, reads) -> list[str]:
    """Dotted fields outside COMMON_SECTIONS that no entry of `reads` names (an entry names a
    field or a whole block: "optim.generator" covers optim.generator.learning_rate)."""
    flat = flatten(config.to_dict())
    return sorted(k for k in flat if k.split(".")[0] not in COMMON_SECTIONS
                  and not any(k == r or k.startswith(r + ".") for r in reads))


def check_method_fields(config, method: str, reads) -> None:
    """A ValueError naming every field that `method` would ignore, before anything is built."""
    unread = unread_fields(config, reads)
    if unread:
        raise ValueError(
            f"Config field{'s' if len(unread) > 1 else ''} {', '.join(unread)} "
            f"{'are' if len(unread) > 1 else 'is'} not read by method {method!r}, so "
            f"{'they' if len(unread) > 1 else 'it'} would be silently ignored: remove "
            f"{'them' if len(unread) > 1 else 'it'}. Fields {method!r} reads besides "
            f"{', '.join(COMMON_SECTIONS)}: {', '.join(reads)}.")


def flatten(d: Mapping, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists become tuples (JSON round trips)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = tuple(v) if isinstance(v, list) else v
    return out


def config_differences(a: Mapping, b: Mapping) -> list[str]:
    """Dotted fields whose values differ between two (nested) config dicts."""
    fa, fb = flatten(a), flatten(b)
    missing = object()
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k, missing) != fb.get(k, missing))


def _merge(defaults: dict, saved: Mapping) -> dict:
    out = dict(defaults)
    for k, v in saved.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


# Fields added after runs were saved with the blocks that have them, so that older workdirs
# load with the value those runs used: (fields that identify the block, {added field: value}).
# Every config dict of a saved config that has all the identifying fields gets the missing ones.
SAVED_CONFIG_UPGRADES = (
    (("name", "learning_rate"),  # optimizer blocks
     dict(schedule="constant", decay_begin=0, decay_steps=0, grad_clip_norm=0.0)),
    (("iwae_k",), dict(iwae_chunk=1)),  # eval of methods with an IWAE bound
    (("num_mixtures", "blocks_per_stage"),  # PixelCNN++ networks (pixelcnn, agave)
     dict(ema_decay=0.0, likelihood="logistic_mixture")),
    (("aux_target",), dict(cond_source="features", cond_scale=1.0)),  # agave
    (("preprocess", "temperature"), dict(num_levels=256)),  # flow: dequantised on 256 levels
    (("depth", "hidden", "coupling"),  # feature-space flows (hybrid's model.flow)
     dict(squeezes=1, mask="channel", scale_bound="sigmoid", net="glow", num_blocks=0,
          num_scales=0)),
)


_MLP_PROTOCOL_FIELDS = {"model.init": "default", "model.bn_epsilon": 1e-5,
                        "model.bn_momentum": 0.9}
# Fields added to one method's config after runs were saved, with the value those runs used:
# {method: {dotted field: value}} (losses.flow; the 2-D protocol options of gan, bgan and ali;
# the hybrid's scale of lambda). An EMA generator's sampling statistics are not part of a
# checkpoint: saved runs sample with the standing statistics, like new ones.
SAVED_METHOD_UPGRADES = {
    "flow": {"losses.flow": "nll_bits"},
    "gan": {**_MLP_PROTOCOL_FIELDS, "schedule.simultaneous": False,
            "model.ema_batch_stats": "standing"},
    "bgan": {**_MLP_PROTOCOL_FIELDS, "schedule.simultaneous": False,
             "model.ema_batch_stats": "standing"},
    "ali": _MLP_PROTOCOL_FIELDS,
    # Before the hybrid's lambda was per sub-pixel, L_C + lambda L_Q weighed nats per image.
    "hybrid": {"losses.adversarial_scale": "per_image"},
}


def _upgrade_method(merged: dict) -> None:
    for field, value in SAVED_METHOD_UPGRADES.get(merged.get("method"), {}).items():
        *blocks, name = field.split(".")
        block = merged
        for b in blocks:
            block = block.setdefault(b, {})
        block.setdefault(name, value)


def _upgrade(block: dict) -> None:
    for identifying, added in SAVED_CONFIG_UPGRADES:
        if all(k in block for k in identifying):
            for k, v in added.items():
                block.setdefault(k, v)
    for v in block.values():
        if isinstance(v, dict):
            _upgrade(v)


def merge_over_defaults(saved: Mapping) -> dict:
    """A saved config (dict) over base_config()'s fields, with SAVED_METHOD_UPGRADES and
    SAVED_CONFIG_UPGRADES applied: fields added since it was saved read the values the run
    used; every saved value wins."""
    merged = _merge(base_config().to_dict(), saved)
    _upgrade_method(merged)
    _upgrade(merged)
    return merged
