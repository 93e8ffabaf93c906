"""pytorch-fid's FID Inception state dict -> our parameter tree -> .npz.

  python -m genmodels.metrics.inception_convert --src=pt_inception-2015-12-05-6726825d.pth \
      --dst=~/.cache/genmodels/inception-2015-12-05.npz

The source is read with torch when it is a .pth (torch is not a dependency: install it for the
conversion only), or as an .npz holding the same names (`Mixed_5b.branch1x1.conv.weight`, ...).
Name and layout mapping (torch -> ours):
  <m>.conv.weight [O, I, kh, kw] -> <m>/conv/kernel [kh, kw, I, O]
  <m>.bn.{weight, bias, running_mean, running_var} -> <m>/bn/{scale, bias, mean, var}
  fc.weight [1008, 2048] -> fc/kernel [2048, 1008];  fc.bias -> fc/bias
(`num_batches_tracked` entries are ignored).
"""

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

_BN = {"weight": "scale", "bias": "bias", "running_mean": "mean", "running_var": "var"}
_BN_INV = {v: k for k, v in _BN.items()}
_IGNORED_SUFFIX = "num_batches_tracked"


def _our_key(name: str, value: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """One torch entry -> (our parameter path, array in our layout)."""
    parts = name.split(".")
    if parts[:-1] == ["fc"]:
        return ("fc", {"weight": "kernel", "bias": "bias"}[parts[-1]]), (
            value.T if parts[-1] == "weight" else value)
    module, layer, leaf = parts[:-2], parts[-2], parts[-1]
    if layer == "conv" and leaf == "weight":
        return (*module, "conv", "kernel"), np.transpose(value, (2, 3, 1, 0))
    if layer == "bn" and leaf in _BN:
        return (*module, "bn", _BN[leaf]), value
    raise KeyError(name)


def _torch_key(path: tuple[str, ...], value: np.ndarray) -> tuple[str, np.ndarray]:
    """Inverse of _our_key."""
    if path[0] == "fc":
        return f"fc.{'weight' if path[1] == 'kernel' else 'bias'}", (
            value.T if path[1] == "kernel" else value)
    *module, layer, leaf = path
    if layer == "conv":
        return ".".join([*module, "conv", "weight"]), np.transpose(value, (3, 2, 0, 1))
    return ".".join([*module, "bn", _BN_INV[leaf]]), value


def expected_shapes() -> dict[tuple[str, ...], tuple[int, ...]]:
    """Parameter path -> shape of InceptionV3, from its abstract init (no computation)."""
    from genmodels.metrics.inception import InceptionV3  # noqa: PLC0415 (cycle)

    abstract = jax.eval_shape(lambda: InceptionV3().init(
        jax.random.PRNGKey(0), jnp.zeros((1, 299, 299, 3), jnp.uint8))["params"])
    return {tuple(k.key for k in path): tuple(leaf.shape)
            for path, leaf in jax.tree_util.tree_leaves_with_path(abstract)}


def _nest(flat: dict[tuple[str, ...], np.ndarray]) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return tree


def _flatten(tree: dict, prefix=()) -> dict[tuple[str, ...], np.ndarray]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, (*prefix, key)))
        else:
            flat[(*prefix, key)] = np.asarray(value)
    return flat


def check_tree(flat: dict[tuple[str, ...], np.ndarray]) -> None:
    """ValueError listing missing, unexpected or mis-shaped parameters."""
    shapes = expected_shapes()
    missing = sorted("/".join(k) for k in shapes.keys() - flat.keys())
    extra = sorted("/".join(k) for k in flat.keys() - shapes.keys())
    wrong = sorted(f"{'/'.join(k)}: {flat[k].shape} != {shapes[k]}"
                   for k in shapes.keys() & flat.keys() if flat[k].shape != shapes[k])
    if missing or extra or wrong:
        raise ValueError("Not the FID InceptionV3 weights: "
                         f"missing {missing[:5]}{'...' if len(missing) > 5 else ''} "
                         f"({len(missing)}), unexpected {extra[:5]} ({len(extra)}), "
                         f"wrong shapes {wrong[:5]} ({len(wrong)}).")


def torch_to_tree(state_dict) -> dict:
    """{torch name: array} -> our nested parameter tree (float32), checked against the model."""
    flat = {}
    for name, value in state_dict.items():
        if name.endswith(_IGNORED_SUFFIX):
            continue
        try:
            path, array = _our_key(name, np.asarray(value, np.float32))
        except KeyError:
            raise ValueError(f"Unexpected entry {name!r} in the Inception state dict.") from None
        flat[path] = array
    check_tree(flat)
    return _nest(flat)


def tree_to_torch(tree) -> dict[str, np.ndarray]:
    """Our parameter tree -> {torch name: array} (inverse of torch_to_tree)."""
    return dict(_torch_key(path, value) for path, value in _flatten(tree).items())


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """A .pth state dict (needs torch) or an .npz of the same names -> {name: numpy array}."""
    path = os.path.expanduser(path)
    if path.endswith(".npz"):
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    try:
        import torch  # noqa: PLC0415 (optional, conversion only)
    except ImportError:
        raise ImportError(f"Reading {path} needs PyTorch (pip install torch, for the conversion "
                          "only), or pass an .npz holding the state dict's arrays under the same "
                          "names.") from None
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def save_npz(tree, path: str) -> None:
    """Our tree -> .npz with "/"-joined parameter paths as names."""
    path = os.path.expanduser(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    flat = {"/".join(k): v.astype(np.float32) for k, v in _flatten(tree).items()}
    np.savez(path + ".tmp.npz", **flat)
    os.replace(path + ".tmp.npz", path)


def load_npz(path: str) -> dict:
    """Inverse of save_npz, checked against the model's parameter shapes."""
    with np.load(os.path.expanduser(path)) as f:
        flat = {tuple(k.split("/")): f[k] for k in f.files}
    check_tree(flat)
    return _nest(flat)


def convert(src: str, dst: str) -> dict:
    """Reads pytorch-fid's weights (.pth or .npz of torch names) and writes our .npz."""
    tree = torch_to_tree(read_state_dict(src))
    save_npz(tree, dst)
    return tree


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", required=True, help="pt_inception-2015-12-05-*.pth (or .npz)")
    parser.add_argument("--dst", required=True, help="output .npz (our parameter tree)")
    args = parser.parse_args(argv)
    convert(args.src, args.dst)
    print(f"Wrote {os.path.expanduser(args.dst)}; use it with "
          f"--config.eval.inception_weights={args.dst} or GENMODELS_INCEPTION_WEIGHTS.")


if __name__ == "__main__":
    main()
