"""PixelCNN++ sampling speed: full-image passes (row_blocks=1) vs passes over the top rows only.

  python -m benchmarks.pixelcnn_sampling --config=configs/pixelcnn.py --row_blocks=1,4

For each row_blocks value: compile time of the jitted sampler, median seconds per batch of
--num_images samples, images/s, the network work relative to full passes ((B + 1) / 2B for B equal
blocks) and whether the samples equal those of the first row_blocks value for the same rng. The
network has random parameters (the sampling cost does not depend on their values).
Writes benchmarks/results/<name>.json and prints a table.
"""

import time

import jax
import jax.numpy as jnp
from absl import app, flags
from ml_collections import config_flags

from benchmarks import common
from genmodels import data
from genmodels.methods import pixelcnn as pixelcnn_method
from genmodels.models import pixelcnn as pcnn

_CONFIG = config_flags.DEFINE_config_file("config", "configs/pixelcnn.py",
                                          "PixelCNN config file[:preset].")
_ROW_BLOCKS = flags.DEFINE_list("row_blocks", ["1", str(pcnn.ROW_BLOCKS)],
                                "Row-block counts to compare; the first is the reference.")
_NUM_IMAGES = flags.DEFINE_integer("num_images", 16, "Images per sampling call.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed sampling calls per row_blocks value.")
_NAME = flags.DEFINE_string("name", "pixelcnn_sampling", "Results file name.")


def work_fraction(height: int, ends) -> float:
    """Network rows computed by the blocked sampler relative to full passes (one per row)."""
    starts = (0,) + tuple(ends[:-1])
    return sum((end - start) * end for start, end in zip(starts, ends)) / height**2


def make_sampler(config, row_blocks: int):
    """(jitted rng -> uint8 samples, variables, image shape, the blocks' last rows)."""
    m = config.model
    shape = tuple(data.get_info(config.data).shape)
    net = pixelcnn_method.make_network(m)
    variables = net.init(jax.random.PRNGKey(0), jnp.zeros((1, *shape)))
    multiple = pcnn.downsampling_factor(m.num_stages)

    @jax.jit
    def draw(variables, rng):
        return pcnn.sample(lambda x, cond: net.apply(variables, x, cond), rng, _NUM_IMAGES.value,
                           shape, m.num_mixtures, row_blocks=row_blocks, row_multiple=multiple)

    return draw, variables, shape, pcnn.row_block_ends(shape[0], row_blocks, multiple)


def measure(config, row_blocks: int, repeats: int):
    draw, variables, shape, ends = make_sampler(config, row_blocks)
    rng = jax.random.PRNGKey(1)
    start = time.perf_counter()
    compiled = draw.lower(variables, rng).compile()
    compile_seconds = time.perf_counter() - start
    seconds, times = common.median_seconds(compiled, variables, rng, warmup=1, repeats=repeats)
    result = {"blocks": len(ends), "block_ends": list(ends),
              "work_fraction": work_fraction(shape[0], ends),
              "compile_seconds": compile_seconds, "seconds_per_batch": seconds,
              "seconds_min": min(times), "seconds_max": max(times),
              "images_per_sec": _NUM_IMAGES.value / seconds}
    return result, jax.device_get(compiled(variables, rng))


def main(argv):
    del argv
    config = _CONFIG.value
    rows, reference = {}, None
    for value in _ROW_BLOCKS.value:
        result, samples = measure(config, int(value), _REPEATS.value)
        if reference is None:
            reference, base = samples, result["seconds_per_batch"]
        result["same_samples_as_reference"] = bool((samples == reference).all())
        result["speedup"] = base / result["seconds_per_batch"]
        rows[f"row_blocks={value}"] = result
        print(f"row_blocks={value:3s} blocks {result['blocks']:2d}  work "
              f"{result['work_fraction']:5.3f}  compile {result['compile_seconds']:6.1f}s  "
              f"{result['seconds_per_batch']:8.3f} s/batch ({result['seconds_min']:.3f}-"
              f"{result['seconds_max']:.3f})  {result['images_per_sec']:8.2f} images/s  "
              f"x{result['speedup']:.2f}  same samples: {result['same_samples_as_reference']}")
    path = common.write_results(_NAME.value, {
        "config": config.to_dict(), "num_images": _NUM_IMAGES.value,
        "repeats": _REPEATS.value, "variants": rows})
    print("wrote", path)


if __name__ == "__main__":
    app.run(main)
