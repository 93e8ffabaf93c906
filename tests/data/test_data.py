"""The data layer: embedded datasets, TFDS sources (mocked), the batch pipelines, transforms.

Nothing here downloads: TFDS datasets are exercised under `tfds.testing.mock_data`, and the
"not prepared" path points data.tfds_data_dir at an empty directory.
"""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from ml_collections import config_dict
from sklearn.datasets import load_digits

from genmodels import data
from genmodels.data import dsprites


def cfg(name, **fields):
    """A data config as the trainer passes it: a ConfigDict with the placeholder fields."""
    c = ml_collections.ConfigDict()
    c.name = name
    c.batch_size = 64
    c.image_size = config_dict.placeholder(int)
    c.tfds_data_dir = config_dict.placeholder(str)
    c.update(fields)
    return c


def take(iterator, n):
    batches = [next(iterator) for _ in range(n)]
    iterator.close()  # Stops grain's prefetch threads.
    return batches


def concat(batches, key):
    return np.concatenate([b[key] for b in batches])


def assert_batches_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


def row_keys(batch):
    """Each example of a batch as one bytes string (image or point, plus label/factors)."""
    keys = [k for k in ("image", "x", "label", "factors") if k in batch]
    n = len(batch[keys[0]])
    return [b"|".join(np.ascontiguousarray(batch[k][i]).tobytes() for k in keys) for i in range(n)]


def read_all(source, max_rows=None, seed=0):
    n = len(source)
    if max_rows is None or n <= max_rows:
        return source.read_batch(np.arange(n))
    return source.read_batch(np.sort(np.random.default_rng(seed).choice(n, max_rows, False)))


# ---------------------------------------------------------------------------------------------
# Embedded datasets: metadata agrees with the examples.

@pytest.mark.parametrize("name", data.EMBEDDED_NAMES)
def test_embedded_info_matches_examples(name):
    info = data.get_info(cfg(name))
    assert info.name == name
    for split, expected_len in (("train", info.num_train), ("test", info.num_test)):
        source = data.get_source(cfg(name), split)
        assert len(source) == expected_len > 0
        batch = read_all(source, max_rows=2000)
        n = len(next(iter(batch.values())))
        if info.kind == "image":
            assert set(batch) == {"image"} | ({"label"} if info.num_classes else set()) | (
                {"factors"} if info.factor_sizes else set())
            assert batch["image"].dtype == np.uint8
            assert batch["image"].shape == (n, *info.shape)
            assert batch["image"].max() > batch["image"].min()  # not blank
        else:
            assert info.kind == "points" and info.shape == (2,)
            assert set(batch) == {"x", "label"}
            assert batch["x"].dtype == np.float32 and batch["x"].shape == (n, 2)
            assert np.isfinite(batch["x"]).all()
        if info.num_classes:
            assert batch["label"].dtype == np.int32 and batch["label"].shape == (n,)
            assert batch["label"].min() >= 0 and batch["label"].max() < info.num_classes
        if info.factor_sizes:
            assert batch["factors"].dtype == np.int32
            assert batch["factors"].shape == (n, len(info.factor_sizes))
            assert (batch["factors"] >= 0).all()
            assert (batch["factors"] < np.array(info.factor_sizes)).all()
        # source[i] is row i of read_batch.
        last = len(source) - 1
        for i in (0, last):
            row = source[i]
            for k, v in source.read_batch(np.array([i])).items():
                np.testing.assert_array_equal(row[k], v[0])
        with pytest.raises(IndexError):
            source[len(source)]


def test_digits_is_sklearn_digits_rescaled_and_partitioned():
    digits = load_digits()
    expected = {"image": np.round(digits.images * 255 / 16).astype(np.uint8)[..., None],
                "label": digits.target.astype(np.int32)}
    train = read_all(data.get_source(cfg("digits"), "train"))
    test = read_all(data.get_source(cfg("digits"), "test"))
    assert len(train["label"]) + len(test["label"]) == 1797
    info = data.get_info(cfg("digits"))
    assert (info.num_train, info.num_test, info.num_classes, info.shape) == (
        len(train["label"]), len(test["label"]), 10, (8, 8, 1))
    # Pixel values lie on the rescaled grid round(v * 255 / 16), v = 0..16, and reach both ends.
    grid = set(np.round(np.arange(17) * 255 / 16).astype(int))
    values = set(np.unique(np.concatenate([train["image"].ravel(), test["image"].ravel()])))
    assert values <= grid and {0, 255} <= values
    assert info.num_levels == 17  # The grid that DatasetInfo declares is this one.
    assert set(np.asarray(data.level_value(np.arange(17), 17)).tolist()) == grid
    assert bool(np.all(data.on_level_grid(train["image"], 17)))
    assert set(train["label"]) == set(test["label"]) == set(range(10))
    # Train and test are disjoint and together are exactly the 1,797 examples (images are unique).
    train_keys, test_keys = set(row_keys(train)), set(row_keys(test))
    assert len(train_keys) == len(train["label"]) and len(test_keys) == len(test["label"])
    assert not train_keys & test_keys
    assert train_keys | test_keys == set(row_keys(expected))


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixture_points_lie_near_their_labelled_modes(name):
    info = data.get_info(cfg(name))
    if name == "ring8":
        angles = 2 * np.pi * np.arange(8) / 8
        expected = np.stack([np.cos(angles), np.sin(angles)], -1)
        std = 0.01
    else:
        g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
        expected = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
        std = 0.05
    assert info.mode_std == std and info.num_classes == len(expected)
    np.testing.assert_allclose(info.modes, expected, atol=1e-6)
    samples = {}
    for split in ("train", "test"):
        batch = read_all(data.get_source(cfg(name), split))
        x, label = batch["x"], batch["label"]
        assert set(label) == set(range(len(expected)))  # every mode present
        offset = x - info.modes[label]
        # P(|offset| > 6 std) = exp(-18) per point: none of 100,000 should be that far.
        assert np.linalg.norm(offset, axis=1).max() < 6 * std
        np.testing.assert_allclose(offset.std(0), std, rtol=0.05)
        np.testing.assert_allclose(offset.mean(0), 0, atol=0.05 * std)
        nearest = np.linalg.norm(x[:, None] - info.modes[None], axis=-1).argmin(1)
        np.testing.assert_array_equal(nearest, label)
        samples[split] = x
    # Train and test are different samples (no point shared).
    train_rows = set(map(bytes, samples["train"]))
    assert not any(bytes(row) in train_rows for row in samples["test"])


# ---------------------------------------------------------------------------------------------
# patches

@pytest.mark.parametrize("size", [None, 8, 32])
def test_patches_sizes(size):
    info = data.get_info(cfg("patches", image_size=size))
    side = 16 if size is None else size
    assert info.kind == "image" and info.shape == (side, side, 3)
    for split in ("train", "test"):
        source = data.get_source(cfg("patches", image_size=size), split)
        images = read_all(source, max_rows=500)["image"]
        assert images.shape[1:] == (side, side, 3) and images.dtype == np.uint8
        # Natural patches: not all blank, colours differ across channels somewhere.
        assert images.std() > 10 and (images[..., 0] != images[..., 1]).any()


def test_patches_test_photos_are_held_out():
    train = read_all(data.get_source(cfg("patches"), "train"))
    test = read_all(data.get_source(cfg("patches"), "test"))
    train_keys, test_keys = set(row_keys(train)), set(row_keys(test))
    assert len(test_keys) > 1000 and len(train_keys) > 1000
    assert not train_keys & test_keys


# ---------------------------------------------------------------------------------------------
# dsprites (procedural)

def _centroid(images):
    """[B, H, W, 1] -> (x, y) centroids of the lit pixels in [0, 1] image coordinates."""
    lit = images[..., 0] > 0
    n = lit.shape[1]
    c = (np.arange(n) + 0.5) / n
    mass = lit.sum((1, 2))
    return (lit.sum(1) * c).sum(1) / mass, (lit.sum(2) * c).sum(1) / mass


def test_dsprites_factor_grid_and_index_decomposition():
    info = data.get_info(cfg("dsprites"))
    assert info.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert info.factor_sizes == (3, 6, 40, 32, 32)
    assert info.num_train == int(np.prod(info.factor_sizes)) == 737_280
    assert info.shape == (64, 64, 1) and info.num_test == 10_000
    train = data.get_source(cfg("dsprites"), "train")
    assert len(train) == 737_280
    idx = np.array([0, 1, 32, 1024, 40 * 1024, 6 * 40 * 1024, 737_279, 123_457])
    batch = train.read_batch(idx)
    np.testing.assert_array_equal(batch["factors"],
                                  np.stack(np.unravel_index(idx, info.factor_sizes), -1))
    np.testing.assert_array_equal(batch["factors"][1], [0, 0, 0, 0, 1])  # posY varies fastest
    np.testing.assert_array_equal(batch["factors"][2], [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(batch["factors"][6], [2, 5, 39, 31, 31])
    # The test split is a fixed set of distinct grid points; each test example is the train
    # example at the flat index of its factors.
    test = data.get_source(cfg("dsprites"), "test")
    t = test.read_batch(np.arange(0, len(test), 97))
    flat = np.ravel_multi_index(t["factors"].T, info.factor_sizes)
    assert len(set(flat)) == len(flat)
    np.testing.assert_array_equal(t["image"], train.read_batch(flat)["image"])
    held_out = dsprites.test_indices()
    assert len(np.unique(held_out)) == 10_000 and held_out.max() < 737_280
    np.testing.assert_array_equal(flat, held_out[np.arange(0, len(test), 97)])


def test_dsprites_rendering_is_deterministic_and_binary():
    idx = np.random.default_rng(1).choice(737_280, 64, replace=False)
    a = data.get_source(cfg("dsprites"), "train").read_batch(idx)["image"]
    b = data.get_source(cfg("dsprites"), "train").read_batch(idx)["image"]
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0, 255}
    assert data.get_info(cfg("dsprites")).num_levels == 2  # 0 and 255: levels 0 and 1.
    assert (a.reshape(64, -1).max(1) == 255).all()  # no blank image
    first = data.get_source(cfg("dsprites"), "test").read_batch(np.arange(8))
    again = data.get_source(cfg("dsprites"), "test").read_batch(np.arange(8))
    np.testing.assert_array_equal(first["image"], again["image"])
    np.testing.assert_array_equal(first["factors"], again["factors"])


def test_dsprites_geometry():
    f = np.array([[s, k, o, x, y] for s in range(3) for k in range(6) for o in (0, 7, 23)
                  for x in (2, 17) for y in (4, 29)])
    images = dsprites.render(f, 64)
    lit = (images[..., 0] > 0).sum((1, 2)).reshape(3, 6, 3, 2, 2)
    assert (np.diff(lit, axis=1) > 0).all()  # larger scale -> strictly more lit pixels
    # Squares (side 2 size) and ellipses (semi-axes size, size / 2): area within 20% of exact.
    size = dsprites.SCALES[f[:, 1]] * dsprites.HALF_SIZE
    area = (images[..., 0] > 0).mean((1, 2))
    exact = np.where(f[:, 0] == 0, 4 * size**2, np.pi * size**2 / 2)
    ratio = (area / exact)[f[:, 0] < 2]
    assert 0.8 < ratio.min() and ratio.max() < 1.2
    # Centrally symmetric shapes are centred at MARGIN + pos * (1 - 2 MARGIN) (x right, y down).
    cx, cy = _centroid(images)
    sym = f[:, 0] < 2
    centre = dsprites.MARGIN + dsprites.POSITIONS[f[:, 3:]] * (1 - 2 * dsprites.MARGIN)
    np.testing.assert_allclose(cx[sym], centre[sym, 0], atol=1 / 64)
    np.testing.assert_allclose(cy[sym], centre[sym, 1], atol=1 / 64)


@pytest.mark.parametrize("size", [64, 32])
def test_dsprites_position_moves_the_centroid(size):
    positions = np.arange(32)
    fx = np.array([[s, k, o, p, 9] for s in range(3) for k in (0, 5) for o in (0, 13)
                   for p in positions])
    fy = fx[:, [0, 1, 2, 4, 3]]  # the same sweep over posY, posX fixed at 9
    cx, cy_fixed = _centroid(dsprites.render(fx, size))
    cx_fixed, cy = _centroid(dsprites.render(fy, size))
    cx, cy = cx.reshape(-1, 32), cy.reshape(-1, 32)
    if size == 64:  # ~1.3 pixels per position step: strictly monotone
        assert (np.diff(cx, axis=1) > 0).all()  # higher posX -> further right
        assert (np.diff(cy, axis=1) > 0).all()  # higher posY -> further down
    else:  # ~0.66 pixels per step
        assert (np.diff(cx, axis=1) >= 0).all() and (np.diff(cy, axis=1) >= 0).all()
        assert (cx[:, -1] - cx[:, 0] > 0.5).all() and (cy[:, -1] - cy[:, 0] > 0.5).all()
    # Moving along one axis leaves the other coordinate alone (up to a pixel of aliasing).
    assert np.ptp(cy_fixed.reshape(-1, 32), axis=1).max() <= 1 / size
    assert np.ptp(cx_fixed.reshape(-1, 32), axis=1).max() <= 1 / size


def test_dsprites_shapes_and_orientation():
    def render(shape, orientation):
        return dsprites.render(np.array([[shape, 5, orientation, 16, 16]]))[0, ..., 0] > 0

    assert not (render(0, 3) == render(1, 3)).all()
    assert not (render(1, 3) == render(2, 3)).all()
    assert not (render(0, 3) == render(2, 3)).all()
    # Ellipse: long axis horizontal at orientation 0, vertical after a quarter turn (index 10).
    for o, wide in ((0, True), (10, False), (20, True), (30, False)):
        e = render(1, o)
        width, height = e.any(0).sum(), e.any(1).sum()
        assert (width > 1.5 * height) if wide else (height > 1.5 * width)
    # Heart: lobes (most mass) up at 0; counter-clockwise on screen moves them left, then down.
    centre = dsprites.MARGIN + dsprites.POSITIONS[16] * (1 - 2 * dsprites.MARGIN)
    for o, (dx, dy) in ((0, (0, -1)), (10, (-1, 0)), (20, (0, 1)), (30, (1, 0))):
        cx, cy = _centroid(render(2, o)[None, ..., None])
        offset = np.array([cx[0] - centre, cy[0] - centre])
        assert np.dot(offset, (dx, dy)) > 0.01 and abs(np.dot(offset, (dy, -dx))) < 0.005


def test_dsprites_shapes_stay_inside_the_image():
    f = np.array([[s, 5, o, x, y] for s in range(3) for o in range(40) for x in (0, 31)
                  for y in (0, 31)])
    images = dsprites.render(f, 64)[..., 0]
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], 1)
    assert border.max() == 0 and (images.reshape(len(f), -1).max(1) == 255).all()


def test_dsprites_32_option():
    info = data.get_info(cfg("dsprites", image_size=32))
    assert info.shape == (32, 32, 1) and info.num_train == 737_280
    idx = np.random.default_rng(2).choice(737_280, 200, replace=False)
    small = data.get_source(cfg("dsprites", image_size=32), "train").read_batch(idx)
    large = data.get_source(cfg("dsprites"), "train").read_batch(idx)
    assert small["image"].shape == (200, 32, 32, 1) and small["image"].dtype == np.uint8
    np.testing.assert_array_equal(small["factors"], large["factors"])
    # The same shapes sampled on a coarser grid: same lit fraction and centroid, up to a pixel.
    frac = lambda im: (im[..., 0] > 0).mean((1, 2))  # noqa: E731
    assert np.abs(frac(small["image"]) - frac(large["image"])).max() < 0.01
    for c_small, c_large in zip(_centroid(small["image"]), _centroid(large["image"])):
        assert np.abs(c_small - c_large).max() < 1 / 32
    f = np.array([[s, k, 0, 16, 16] for s in range(3) for k in range(6)])
    lit = (dsprites.render(f, 32)[..., 0] > 0).sum((1, 2)).reshape(3, 6)
    assert (np.diff(lit, axis=1) >= 0).all() and (lit[:, -1] > 2 * lit[:, 0]).all()


# ---------------------------------------------------------------------------------------------
# train_batches

def test_train_batches_deterministic_per_seed():
    c = cfg("digits")
    a = take(data.train_batches(c, batch_size=64, seed=0), 3)
    b = take(data.train_batches(c, batch_size=64, seed=0), 3)
    other = take(data.train_batches(c, batch_size=64, seed=1), 3)
    assert_batches_equal(a, b)
    for x, y in zip(a, other):
        assert not np.array_equal(x["image"], y["image"])
    assert a[0]["image"].shape == (64, 8, 8, 1) and a[0]["label"].shape == (64,)
    assert a[0]["image"].dtype == np.uint8 and a[0]["label"].dtype == np.int32


def test_train_batches_resume_from_any_step():
    c = cfg("digits")
    full = take(data.train_batches(c, batch_size=64, seed=3), 30)  # 1,500 / 64: crosses epoch 1
    for k in (1, 23, 26):
        resumed = take(data.train_batches(c, batch_size=64, seed=3, start_step=k), 30 - k)
        assert_batches_equal(resumed, full[k:])


@pytest.mark.parametrize("batch_size", [100, 64])
def test_train_batches_epochs_visit_every_example_once(batch_size):
    c = cfg("digits")
    source = data.get_source(c, "train")
    n = len(source)
    everything = sorted(row_keys(read_all(source)))
    steps = -(-2 * n // batch_size)  # enough for two epochs
    batches = take(data.train_batches(c, batch_size=batch_size, seed=0), steps)
    stream = row_keys({k: concat(batches, k) for k in ("image", "label")})
    epoch0, epoch1 = stream[:n], stream[n:2 * n]
    assert sorted(epoch0) == everything and sorted(epoch1) == everything
    assert epoch0 != epoch1  # each epoch is a fresh permutation
    assert epoch0 != row_keys(read_all(source))  # and actually shuffled


def test_train_batches_per_host_slices():
    c = cfg("digits")
    kwargs = dict(batch_size=64, seed=5, start_step=21)
    single = take(data.train_batches(c, **kwargs), 4)
    hosts = [take(data.train_batches(c, process_index=p, process_count=2, **kwargs), 4)
             for p in (0, 1)]
    for step, batch in enumerate(single):
        for k in batch:
            assert hosts[0][step][k].shape[0] == 32
            np.testing.assert_array_equal(
                np.concatenate([hosts[0][step][k], hosts[1][step][k]]), batch[k])


def test_batch_size_must_divide_over_processes():
    for fn in (lambda **kw: data.train_batches(cfg("digits"), seed=0, **kw),
               lambda **kw: data.eval_batches(cfg("digits"), "test", **kw)):
        with pytest.raises(ValueError, match="data.batch_size"):
            fn(batch_size=63, process_index=0, process_count=2)
        with pytest.raises(ValueError, match="data.batch_size"):
            fn(batch_size=0, process_index=0, process_count=1)


# ---------------------------------------------------------------------------------------------
# eval_batches

def test_eval_batches_one_ordered_pass_with_mask():
    c = cfg("digits")
    source = data.get_source(c, "test")
    n = len(source)
    batches = list(data.eval_batches(c, "test", batch_size=64))
    assert len(batches) == -(-n // 64)
    for b in batches:
        assert b["image"].shape == (64, 8, 8, 1) and b["mask"].shape == (64,)
        assert b["mask"].dtype == bool
    mask = concat(batches, "mask")
    assert mask.sum() == n and mask[:n].all() and not mask[n:].any()  # padding at the end
    expected = source.read_batch(np.arange(n))
    for k in expected:
        np.testing.assert_array_equal(concat(batches, k)[mask], expected[k])


@pytest.mark.parametrize("max_examples, expected", [(100, 100), (128, 128), (10_000, None)])
def test_eval_batches_max_examples(max_examples, expected):
    c = cfg("digits")
    source = data.get_source(c, "train")
    expected = len(source) if expected is None else expected
    batches = list(data.eval_batches(c, "train", batch_size=64, max_examples=max_examples))
    assert len(batches) == -(-expected // 64)
    mask = concat(batches, "mask")
    assert mask.sum() == expected
    np.testing.assert_array_equal(concat(batches, "image")[mask],
                                  source.read_batch(np.arange(expected))["image"])


def test_eval_batches_per_host_slices():
    c = cfg("ring8")
    single = list(data.eval_batches(c, "test", batch_size=768, max_examples=2000))
    hosts = [list(data.eval_batches(c, "test", batch_size=768, max_examples=2000,
                                    process_index=p, process_count=2)) for p in (0, 1)]
    assert len(single) == len(hosts[0]) == len(hosts[1]) == 3
    for step, batch in enumerate(single):
        for k in ("x", "label", "mask"):
            assert hosts[1][step][k].shape[0] == 384
            np.testing.assert_array_equal(
                np.concatenate([hosts[0][step][k], hosts[1][step][k]]), batch[k])
    # The last global batch has 2000 - 2 * 768 = 464 real rows: host 0 all real, host 1 only 80.
    assert hosts[0][2]["mask"].all() and hosts[1][2]["mask"].sum() == 464 - 384


# ---------------------------------------------------------------------------------------------
# Errors

def test_unknown_name_lists_valid_names():
    for call in (lambda: data.get_info(cfg("cifar100")),
                 lambda: data.get_source(cfg("cifar100"), "train"),
                 lambda: data.train_batches(cfg("cifar100"), batch_size=8, seed=0)):
        with pytest.raises(ValueError, match="data.name") as e:
            call()
        for name in data.DATASET_NAMES:
            assert name in str(e.value)


@pytest.mark.parametrize("name, size", [("digits", 12), ("patches", 17), ("dsprites", 28),
                                        ("mnist", 64), ("ring8", 8)])
def test_unsupported_image_size_names_the_field(name, size):
    with pytest.raises(ValueError, match="data.image_size"):
        data.get_info(cfg(name, image_size=size))
    with pytest.raises(ValueError, match="data.image_size"):
        data.get_source(cfg(name, image_size=size), "train")


def test_bad_split_raises():
    with pytest.raises(ValueError, match="split"):
        data.get_source(cfg("digits"), "validation")
    with pytest.raises(ValueError, match="split"):
        data.eval_batches(cfg("ring8"), "eval", batch_size=8)


# ---------------------------------------------------------------------------------------------
# Transforms

def test_signed_round_trip():
    x = np.arange(256, dtype=np.uint8)
    y = data.to_signed(x)
    assert y.dtype == np.float32 and y[0] == -1.0 and y[-1] == 1.0
    assert (np.diff(y) > 0).all()
    np.testing.assert_array_equal(data.to_uint8(y), x)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda v: data.to_uint8(data.to_signed(v)))(
        jnp.asarray(x))), x)
    np.testing.assert_array_equal(data.to_uint8(np.array([-3.0, -1.0, 1.0, 3.0])),
                                  [0, 0, 255, 255])
    assert data.to_uint8(np.array([0.0]))[0] in (127, 128)


def test_dequantize_bounds_and_randomness():
    x = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    keys = jax.random.split(jax.random.key(0), 3)
    ys = [np.asarray(data.dequantize(k, x)) for k in keys]
    lo, hi = x.astype(np.float32) / 256, (x.astype(np.float32) + 1) / 256
    for y in ys:
        assert y.dtype == np.float32 and y.shape == x.shape
        assert (y >= lo).all() and (y < hi).all()
        u = y * 256 - x
        assert 0.4 < u.mean() < 0.6 and 0.25 < u.std() < 0.33  # ~U[0, 1): mean 1/2, std 0.289
    assert not np.array_equal(ys[0], ys[1]) and not np.array_equal(ys[1], ys[2])
    np.testing.assert_array_equal(ys[0], np.asarray(data.dequantize(keys[0], x)))
    # The upper bound holds even where x + u rounds up to x + 1 in float32 (u within 2^-17 of
    # 1 when x >= 128: about 15 of 2M draws here).
    top = np.asarray(data.dequantize(jax.random.key(0), np.full((2_000_000,), 255, np.uint8)))
    assert top.max() < 1.0


# ---------------------------------------------------------------------------------------------
# TFDS sources, mocked (no TensorFlow, no data).

TFDS_SHAPES = {
    ("cifar10", None): (32, 32, 3),
    ("mnist", None): (28, 28, 1),
    ("mnist", 32): (32, 32, 1),
    ("fashion_mnist", None): (28, 28, 1),
    ("celeb_a", None): (64, 64, 3),
    ("celeb_a", 32): (32, 32, 3),
    ("lsun/church_outdoor", None): (64, 64, 3),
    ("downsampled_imagenet/32x32", None): (32, 32, 3),
    ("stl10", None): (96, 96, 3),
    ("stl10", 48): (48, 48, 3),
    ("dsprites_tfds", None): (64, 64, 1),
    ("shapes3d", None): (64, 64, 3),
    ("shapes3d", 32): (32, 32, 3),
}


def test_tfds_shape_table_covers_every_tfds_name():
    assert {name for name, _ in TFDS_SHAPES} == set(data.TFDS_NAMES)


@pytest.mark.parametrize("name, size", list(TFDS_SHAPES))
def test_tfds_sources_under_mock_data(name, size):
    shape = TFDS_SHAPES[name, size]
    c = cfg(name, image_size=size)
    with tfds.testing.mock_data(num_examples=20):
        info = data.get_info(c)
        assert info.kind == "image" and info.shape == shape
        train, test = data.get_source(c, "train"), data.get_source(c, "test")
        assert (info.num_train, info.num_test) == (len(train), len(test))
        example = train[0]
        assert example["image"].shape == shape and example["image"].dtype == np.uint8
        if info.num_classes:
            assert example["label"].dtype == np.int32 and example["label"].shape == ()
        else:
            assert "label" not in example
        if info.factor_sizes:
            assert info.factor_names and len(info.factor_names) == len(info.factor_sizes)
            f = read_all(train)["factors"]
            assert f.dtype == np.int32 and f.shape == (len(train), len(info.factor_sizes))
            assert (f >= 0).all() and (f < np.array(info.factor_sizes)).all()
        else:
            assert "factors" not in example
        batches = take(data.train_batches(c, batch_size=8, seed=0), 3)  # crosses an epoch
        for b in batches:
            assert b["image"].shape == (8, *shape) and b["image"].dtype == np.uint8
            assert b.keys() == example.keys()
        evals = list(data.eval_batches(c, "test", batch_size=8))
        assert len(evals) == -(-len(test) // 8)
        assert all(b["image"].shape == (8, *shape) for b in evals)
        assert concat(evals, "mask").sum() == len(test)


def test_tfds_factor_sizes():
    with tfds.testing.mock_data(num_examples=4):
        assert data.get_info(cfg("dsprites_tfds")).factor_sizes == (3, 6, 40, 32, 32)
        assert data.get_info(cfg("shapes3d")).factor_sizes == (10, 10, 10, 8, 4, 15)


def test_tfds_mnist_32_is_zero_padded_28():
    with tfds.testing.mock_data(num_examples=5):
        small = read_all(data.get_source(cfg("mnist"), "train"))["image"]
        large = read_all(data.get_source(cfg("mnist", image_size=32), "train"))["image"]
    np.testing.assert_array_equal(large[:, 2:30, 2:30], small)
    border = large.copy()
    border[:, 2:30, 2:30] = 0
    assert border.max() == 0 and small.max() > 0


def test_tfds_dsprites_pixels_map_to_0_and_255():
    # Real dSprites stores 0/1 pixels; max_value=2 makes the mock draw 0/1 too.
    with tfds.testing.mock_data(num_examples=6, max_value=2):
        images = read_all(data.get_source(cfg("dsprites_tfds"), "train"))["image"]
    assert set(np.unique(images)) == {0, 255}


@pytest.mark.parametrize("name", ["dsprites_tfds", "shapes3d"])
def test_tfds_holdout_split_is_disjoint_from_train(name):
    n = 50
    with tfds.testing.mock_data(num_examples=n):
        # Mocked examples are a deterministic function of their index (train and test TFDS
        # splits would be identical), so distinct images identify distinct records.
        train = read_all(data.get_source(cfg(name), "train"))
        test = read_all(data.get_source(cfg(name), "test"))
        test_again = read_all(data.get_source(cfg(name), "test"))
        info = data.get_info(cfg(name))
    assert (info.num_train, info.num_test) == (45, 5)  # n // 10 held out
    assert len(train["image"]) == 45 and len(test["image"]) == 5
    np.testing.assert_array_equal(test["image"], test_again["image"])  # a fixed subset
    train_keys, test_keys = set(row_keys(train)), set(row_keys(test))
    assert len(train_keys | test_keys) == n and not train_keys & test_keys


@pytest.mark.parametrize("name", data.TFDS_NAMES)
def test_tfds_not_prepared(name, tmp_path):
    c = cfg(name, tfds_data_dir=str(tmp_path))
    for split in ("train", "test"):
        with pytest.raises(FileNotFoundError, match="tfds build") as e:
            data.get_source(c, split)
        assert str(tmp_path) in str(e.value) and "array_record" in str(e.value)
        assert "tfds_data_dir" in str(e.value)
    with pytest.raises(FileNotFoundError, match="tfds build"):
        data.train_batches(c, batch_size=8, seed=0)
    info = data.get_info(c)
    assert info.shape == TFDS_SHAPES[name, None]
    assert info.num_train is None and info.num_test is None
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing downloaded


def test_digits_enlarged_by_exact_pixel_replication():
    small = data.get_source(cfg("digits"), "test").read_batch(np.arange(5))
    big_cfg = cfg("digits", image_size=32)
    big = data.get_source(big_cfg, "test").read_batch(np.arange(5))
    assert data.get_info(big_cfg).shape == (32, 32, 1)
    np.testing.assert_array_equal(big["image"][:, ::4, ::4], small["image"])
    np.testing.assert_array_equal(big["image"][:, 3::4, 1::4], small["image"])
    np.testing.assert_array_equal(big["label"], small["label"])
