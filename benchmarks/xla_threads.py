"""How many threads an XLA:CPU process starts under each thread-related environment setting.

  python -m benchmarks.xla_threads [--name=xla_threads]

Each setting runs a fresh Python process that jits and runs one matmul and then counts its own
threads (/proc/self/task, Linux). Backs docs/sweeps.md ("Why NPROC"): NPROC is the variable that
sizes XLA's CPU thread pools. Writes benchmarks/results/<name>.json and prints a table.
"""

import os
import subprocess
import sys

from absl import app, flags

from benchmarks import common

_NAME = flags.DEFINE_string("name", "xla_threads", "Results file name.")

SETTINGS = {
    "(none)": {},
    "NPROC=1": {"NPROC": "1"},
    "NPROC=8": {"NPROC": "8"},
    "NPROC=16": {"NPROC": "16"},
    "XLA_FLAGS=--xla_cpu_multi_thread_eigen=false": {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"},
    "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"},
}
_CHILD = ("import os, jax, jax.numpy as jnp; x = jnp.ones((512, 512)); "
          "jax.jit(lambda a: a @ a)(x).block_until_ready(); print(len(os.listdir('/proc/self/task')))")
_CLEARED = ("NPROC", "XLA_FLAGS", "OMP_NUM_THREADS")


def count_threads(extra: dict) -> int:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(JAX_PLATFORMS="cpu", **extra)
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    threads = {name: count_threads(extra) for name, extra in SETTINGS.items()}
    for name, n in threads.items():
        print(f"| {name} | {n} |")
    print(common.write_results(_NAME.value, {"threads": threads}))


if __name__ == "__main__":
    app.run(main)
