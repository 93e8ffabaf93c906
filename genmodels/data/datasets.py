"""`data.name` -> dataset metadata and random-access sources.

`data_config` is the `config.data` ConfigDict (or a dict): `name`, `image_size` (None: the
dataset's default size) and `tfds_data_dir` (None: TFDS's default directory).
"""
from genmodels.data import dsprites, embedded, tfds_sources
from genmodels.data.base import DatasetInfo, Source, check_split

# Allowed data.image_size values of each image dataset; the first is the default.
_IMAGE_SIZES = {
    "digits": embedded.DIGITS_SIZES,
    "patches": embedded.PATCH_SIZES,
    "dsprites": dsprites.SIZES,
    **{name: spec.sizes for name, spec in tfds_sources.SPECS.items()},
}
EMBEDDED_NAMES = (*embedded.POINT_DATASETS, "digits", "patches", "dsprites")
TFDS_NAMES = tuple(tfds_sources.SPECS)
DATASET_NAMES = EMBEDDED_NAMES + TFDS_NAMES


def _name(data_config) -> str:
    name = data_config.get("name")
    if name not in DATASET_NAMES:
        raise ValueError(f"Unknown dataset data.name={name!r}; set data.name to one of: "
                         f"{', '.join(DATASET_NAMES)}.")
    return name


def _image_size(name: str, data_config) -> int | None:
    """The validated data.image_size (its default when None); None for point datasets."""
    size = data_config.get("image_size")
    if name in embedded.POINT_DATASETS:
        if size is not None:
            raise ValueError(f"data.image_size={size} does not apply to the point dataset "
                             f"{name!r}; leave data.image_size unset (None).")
        return None
    allowed = _IMAGE_SIZES[name]
    if size is None:
        return allowed[0]
    if size not in allowed:
        raise ValueError(f"data.image_size={size} is not supported for {name!r}; allowed values: "
                         f"{', '.join(map(str, allowed))} (or None for {allowed[0]}).")
    return size


def get_info(data_config) -> DatasetInfo:
    """Shapes, sizes, classes and factors of `data.name` at `data.image_size`."""
    name = _name(data_config)
    size = _image_size(name, data_config)
    if name in embedded.POINT_DATASETS:
        return embedded.points_info(name)
    if name == "digits":
        return embedded.digits_info(size)
    if name == "patches":
        return embedded.patches_info(size)
    if name == "dsprites":
        return dsprites.info(size)
    return tfds_sources.info(name, size, data_config.get("tfds_data_dir"))


def get_source(data_config, split: str) -> Source:
    """Random-access examples of one split ("train" or "test"): `len(s)`, `s[i]` -> example dict.

    Images: `{"image": uint8 [H, W, C]}`; points: `{"x": float32 [2]}`; plus `"label"` (int32)
    where the dataset has classes and `"factors"` (int32 [num_factors]) where it has factors.
    Sources also have `read_batch(indices)`, which returns the examples stacked.
    """
    name = _name(data_config)
    size = _image_size(name, data_config)
    check_split(split)
    if name in embedded.POINT_DATASETS:
        return embedded.points_source(name, split)
    if name == "digits":
        return embedded.digits_source(split, size)
    if name == "patches":
        return embedded.patches_source(split, size)
    if name == "dsprites":
        return dsprites.source(split, size)
    return tfds_sources.source(name, split, size, data_config.get("tfds_data_dir"))
