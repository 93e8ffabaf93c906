"""A convolution's weight gradient inside and outside an XLA loop.

  python -m benchmarks.conv_in_loop [--iterations=2] [--repeats=3]

Times `iterations` gradient steps w <- w - 1e-3 d/dw sum(conv(x, w)^2) (3x3, 128 -> 128 channels,
batch 16 of 16x16), written out in sequence (unrolled) and as a `lax.fori_loop`, and the forward
convolution alone both ways. On XLA:CPU the weight gradient in the loop body is about 100x
slower, which is why the trainer unrolls a player's repeated updates (`schedule.d_steps`) and
why `train.steps_per_call` > 1 is slow for conv models on CPU. Writes
benchmarks/results/conv_in_loop.json.
"""

import jax
import jax.numpy as jnp
from absl import app, flags
from jax import lax

from benchmarks import common

_ITERATIONS = flags.DEFINE_integer("iterations", 2, "Gradient steps per call.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed calls.")


def conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


def variants(x, n: int) -> dict:
    def gradient_step(w):
        return w - 1e-3 * jax.grad(lambda w: jnp.sum(conv(x, w) ** 2))(w)

    def unrolled(body):
        def run(w):
            for _ in range(n):
                w = body(w)
            return w
        return run

    def looped(body):
        return lambda w: lax.fori_loop(0, n, lambda i, w: body(w), w)

    return {"weight gradient, unrolled": unrolled(gradient_step),
            "weight gradient, fori_loop": looped(gradient_step),
            # conv applied n times to x (128 -> 128 channels keeps the shape).
            "forward, unrolled": lambda w: unrolled(lambda h: conv(h, w))(x),
            "forward, fori_loop": lambda w: lax.fori_loop(0, n, lambda i, h: conv(h, w), x)}


def main(argv):
    del argv
    x = jax.random.normal(jax.random.PRNGKey(0), (16, 16, 16, 128))
    w = 0.05 * jax.random.normal(jax.random.PRNGKey(1), (3, 3, 128, 128))
    rows = {}
    for name, fn in variants(x, _ITERATIONS.value).items():
        seconds, _ = common.median_seconds(jax.jit(fn), w, warmup=1, repeats=_REPEATS.value)
        rows[name] = {"ms_per_call": 1e3 * seconds}
        print(f"{name:28s} {1e3 * seconds:9.1f} ms per call ({_ITERATIONS.value} iterations)",
              flush=True)
    print("wrote", common.write_results("conv_in_loop", {"iterations": _ITERATIONS.value,
                                                         "rows": rows}))


if __name__ == "__main__":
    app.run(main)
