"""Read the tensors of a TorchScript (or torch.save zip) archive without torch.

An archive is a zip holding `<root>/data.pkl`, a pickle of the module tree whose tensors are
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` calls on *persistent ids*
("storage", <dtype class>, key, device, numel), and `<root>/data/<key>`, each storage's raw
little-endian bytes. TorchScript modules pickle as instances of `__torch__.*` classes whose
state is a dict of attributes; they are rebuilt here as `Module` stand-ins recording that state.
Only the classes a module pickle needs are allowed; anything else is refused (no code runs).

  tensors, attributes = read_module("default_1.pt")
  tensors["net.layers.conv.weight"]  -> numpy array;  attributes["net.layers.conv.stride"] -> 2
"""

import collections
import pickle
import zipfile

import numpy as np

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
           "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class Module:
    """Stand-in for a pickled `__torch__.<path>.<name>` object: records its class and state."""

    def __init__(self, class_name: str):
        self.class_name, self.state = class_name, {}

    def __setstate__(self, state):
        self.state = dict(state)


class _StorageType:
    def __init__(self, name: str):
        if name not in _DTYPES:
            raise pickle.UnpicklingError(f"Unsupported tensor storage type torch.{name}.")
        self.dtype = np.dtype(_DTYPES[name]).newbyteorder("<")


def _rebuild_tensor(storage, offset, size, stride, *unused):
    del unused  # requires_grad, backward hooks, metadata
    itemsize = storage.dtype.itemsize
    if not size:
        return storage[offset].copy()
    return np.lib.stride_tricks.as_strided(
        storage[offset:], tuple(size), tuple(s * itemsize for s in stride)).copy()


def _rebuild_parameter(data, *unused):
    del unused
    return data


def _class_factory(module: str, name: str):
    full = f"{module}.{name}"
    return type(name, (Module,), {"__init__": lambda self: Module.__init__(self, full)})


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, root: str):
        super().__init__(file)
        self._archive, self._root, self._storages = archive, root, {}

    def find_class(self, module, name):
        if module.startswith("__torch__"):
            return _class_factory(module, name)
        allowed = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
                   ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
                   ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
                   ("collections", "OrderedDict"): collections.OrderedDict,
                   ("torch.jit._pickle", "build_intlist"): list,
                   ("torch.jit._pickle", "build_doublelist"): list,
                   ("torch.jit._pickle", "build_boollist"): list}
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"Refusing to load {module}.{name} from a tensor archive.")

    def persistent_load(self, pid):
        kind, storage_type, key, *_ = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"Unknown persistent id {pid!r}.")
        if key not in self._storages:
            raw = self._archive.read(f"{self._root}/data/{key}")
            self._storages[key] = np.frombuffer(raw, storage_type.dtype)
        return self._storages[key]


def _walk(obj, path: tuple, tensors: dict, attributes: dict) -> None:
    items = (obj.state.items() if isinstance(obj, Module)
             else obj.items() if isinstance(obj, dict) else None)
    if items is not None:
        for name, value in items:
            _walk(value, (*path, str(name)), tensors, attributes)
    elif isinstance(obj, np.ndarray):
        tensors[".".join(path)] = obj
    else:
        attributes[".".join(path)] = obj


def load_pickle(path: str):
    """The unpickled root object of the archive (Module stand-ins, dicts, numpy arrays)."""
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise ValueError(f"{path} is not a torch archive (no single <root>/data.pkl).")
        root = pickles[0].split("/")[0]
        with archive.open(pickles[0]) as f:
            return _Unpickler(f, archive, root).load()


def read_module(path: str) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """({dotted tensor name: array}, {dotted attribute name: value}) of a TorchScript archive
    (or of a state dict saved with torch.save); "." joins module names."""
    tensors, attributes = {}, {}
    _walk(load_pickle(path), (), tensors, attributes)
    return tensors, attributes
