"""TFDS datasets read through `tfds.data_source` (random access to ArrayRecord files, no TF).

Nothing here downloads: the data must already be prepared in ArrayRecord format under
`data.tfds_data_dir` (see docs/data.md). Every example is mapped to the same dict as the
embedded datasets: `{"image": uint8 [S, S, C]}` plus `"label"` / `"factors"` where they exist.
tensorflow-datasets is an optional extra (`genmodels[tfds]`), imported only when a TFDS dataset is
opened, so the embedded datasets work without it.
"""
import dataclasses
import importlib

import numpy as np
from PIL import Image

from genmodels.data.base import DatasetInfo, Source, holdout_indices, holdout_size

_HOLDOUT_SEED = 0


@dataclasses.dataclass(frozen=True)
class TfdsSpec:
    tfds_name: str
    sizes: tuple[int, ...]  # Allowed data.image_size values; the first is the default.
    channels: int
    test_split: str | None  # None: hold out a fixed subset of "train" as the test split.
    num_classes: int | None = None
    factors: tuple[tuple[str, int], ...] | None = None  # (TFDS feature, number of values)
    pad: bool = False  # Reach a larger image_size by zero padding instead of resizing.
    binary: bool = False  # Pixels stored as 0/1: map to 0/255.


_DSPRITES_FACTORS = (("label_shape", 3), ("label_scale", 6), ("label_orientation", 40),
                     ("label_x_position", 32), ("label_y_position", 32))
_SHAPES3D_FACTORS = (("label_floor_hue", 10), ("label_wall_hue", 10), ("label_object_hue", 10),
                     ("label_scale", 8), ("label_shape", 4), ("label_orientation", 15))

SPECS = {
    "cifar10": TfdsSpec("cifar10", (32,), 3, "test", num_classes=10),
    "mnist": TfdsSpec("mnist", (28, 32), 1, "test", num_classes=10, pad=True),
    "fashion_mnist": TfdsSpec("fashion_mnist", (28, 32), 1, "test", num_classes=10, pad=True),
    "celeb_a": TfdsSpec("celeb_a", (64, 32, 128), 3, "test"),
    "lsun/church_outdoor": TfdsSpec("lsun/church_outdoor", (64, 32, 128, 256), 3, "validation"),
    "downsampled_imagenet/32x32": TfdsSpec("downsampled_imagenet/32x32", (32,), 3, "validation"),
    "stl10": TfdsSpec("stl10", (96, 32, 48, 64), 3, "test", num_classes=10),
    "dsprites_tfds": TfdsSpec("dsprites", (64, 32), 1, None, factors=_DSPRITES_FACTORS,
                              binary=True),
    "shapes3d": TfdsSpec("shapes3d", (64, 32), 3, None, factors=_SHAPES3D_FACTORS),
}
FACTOR_NAMES = {
    "dsprites_tfds": ("shape", "scale", "orientation", "posX", "posY"),
    "shapes3d": ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"),
}


def _tfds():
    """The tensorflow_datasets module, or an ImportError naming the extra that installs it."""
    try:
        return importlib.import_module("tensorflow_datasets")
    except ImportError as e:
        raise ImportError(f"TFDS datasets ({', '.join(SPECS)}) need tensorflow-datasets, which "
                          "is not installed: pip install 'genmodels[tfds]'. The embedded "
                          "datasets (ring8, grid25, digits, patches, dsprites) need nothing "
                          "extra.") from e


def _not_prepared(spec: TfdsSpec, data_dir: str | None) -> str:
    where = data_dir or _tfds().core.constants.DATA_DIR
    return (f"TFDS dataset {spec.tfds_name!r} is not prepared in ArrayRecord format under "
            f"data.tfds_data_dir={where!r}, and genmodels never downloads. On a machine with "
            f"network, run `pip install 'genmodels[tfds,tf]'` then `tfds build {spec.tfds_name} "
            f"--data_dir={where} --file_format=array_record` (or, in Python, "
            f"`tfds.data_source({spec.tfds_name!r}, data_dir={where!r}, download=True)`), "
            "copy the directory here and set data.tfds_data_dir to it.")


def open_split(spec: TfdsSpec, split: str, data_dir: str | None):
    """The raw TFDS data source of one split, or a FileNotFoundError saying how to prepare it."""
    tfds = _tfds()
    try:
        return tfds.data_source(spec.tfds_name, split=split, data_dir=data_dir, download=False)
    except (NotImplementedError, FileNotFoundError, AssertionError, KeyError) as e:
        raise FileNotFoundError(_not_prepared(spec, data_dir)) from e


def center_crop_resize(image: np.ndarray, size: int) -> np.ndarray:
    """Crops the central square (side = the shorter side) and resizes it to size x size (bicubic).

    Equivalent to resizing the shorter side to `size` and then cropping the centre.
    """
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(image[top:top + side, left:left + side].squeeze(-1)
                           if image.shape[-1] == 1 else image[top:top + side, left:left + side])
    resized = np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC))
    return resized.reshape(size, size, image.shape[-1])


def pad_to(image: np.ndarray, size: int) -> np.ndarray:
    """Zero-pads an image equally on all sides (e.g. MNIST 28x28 -> 32x32)."""
    ph, pw = size - image.shape[0], size - image.shape[1]
    return np.pad(image, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))


def convert(spec: TfdsSpec, image_size: int, example: dict) -> dict[str, np.ndarray]:
    """One TFDS example -> the genmodels example dict."""
    image = np.asarray(example["image"], np.uint8)
    if spec.binary:
        image = np.where(image > 0, 255, 0).astype(np.uint8)
    if spec.pad and image.shape[0] <= image_size and image.shape[1] <= image_size:
        image = pad_to(image, image_size)
    else:
        image = center_crop_resize(image, image_size)
    out = {"image": image}
    if spec.num_classes is not None:
        out["label"] = np.int32(example["label"])
    if spec.factors is not None:
        out["factors"] = np.array([example[k] for k, _ in spec.factors], np.int32)
    return out


class TfdsSource(Source):
    """A TFDS split (or a subset of it, through `indices`) as genmodels examples."""

    def __init__(self, spec: TfdsSpec, raw, image_size: int, indices: np.ndarray | None = None):
        self.spec, self.raw, self.image_size, self.indices = spec, raw, image_size, indices

    def __len__(self) -> int:
        return len(self.raw) if self.indices is None else len(self.indices)

    def read_batch(self, indices):
        keys = np.asarray(indices) if self.indices is None else self.indices[indices]
        # One read per example: tfds.testing.mock_data replaces __getitems__ with an incompatible
        # signature, and grain's threads already overlap the reads.
        examples = [self.raw[int(k)] for k in keys]
        converted = [convert(self.spec, self.image_size, ex) for ex in examples]
        return {k: np.stack([c[k] for c in converted]) for k in converted[0]}


def source(name: str, split: str, image_size: int, data_dir: str | None) -> TfdsSource:
    spec = SPECS[name]
    if spec.test_split is not None:
        raw = open_split(spec, "train" if split == "train" else spec.test_split, data_dir)
        return TfdsSource(spec, raw, image_size)
    raw = open_split(spec, "train", data_dir)
    test = holdout_indices(len(raw), _HOLDOUT_SEED)
    keep = test if split == "test" else np.setdiff1d(np.arange(len(raw)), test)
    return TfdsSource(spec, raw, image_size, keep)


def split_sizes(spec: TfdsSpec, data_dir: str | None) -> tuple[int, int]:
    """(num_train, num_test) from the prepared data (opening a data source reads no examples)."""
    num_train = len(open_split(spec, "train", data_dir))
    if spec.test_split is None:
        return num_train - holdout_size(num_train), holdout_size(num_train)
    return num_train, len(open_split(spec, spec.test_split, data_dir))


def info(name: str, image_size: int, data_dir: str | None) -> DatasetInfo:
    """Shapes come from the spec; split sizes from the prepared data, or None when it is not
    prepared or tensorflow-datasets is not installed (building models, benchmarks and loading runs
    need no data)."""
    spec = SPECS[name]
    try:
        num_train, num_test = split_sizes(spec, data_dir)
    except (FileNotFoundError, ImportError):
        num_train = num_test = None
    return DatasetInfo(name, "image", (image_size, image_size, spec.channels), num_train, num_test,
                       num_classes=spec.num_classes, factor_names=FACTOR_NAMES.get(name),
                       factor_sizes=spec.factors and tuple(n for _, n in spec.factors))
