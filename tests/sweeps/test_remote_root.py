"""A sweep root on remote storage: the runs' workdirs and every file the aggregation writes
(results.csv, results.md, plots/) go through etils.epath. The store is fsspec's in-memory
filesystem registered for gs://, reached through epath's fsspec backend (the one it uses for gs://
when TensorFlow is not installed), so nothing touches the network."""

import csv
import importlib
import io
import json

import pytest
from etils import epath
from etils.epath import gpath
from fsspec.implementations.memory import MemoryFileSystem

from genmodels import sweeps
from tests.sweeps.test_sweeps import _sweep_file


_FSSPEC_REGISTRY = importlib.import_module("fsspec.registry")  # fsspec.registry is a mapping.


class _MemoryGcs(MemoryFileSystem):
    protocol = ("gs", "gcs")
    store = {}  # Own store: not shared with memory://.
    pseudo_dirs = [""]

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        for prefix in ("gs://", "gcs://"):
            path = path.removeprefix(prefix)
        return "/" + path.strip("/")


@pytest.fixture
def memory_gcs(monkeypatch):
    monkeypatch.setattr(gpath, "_is_tf_installed", lambda: False)  # epath's fsspec backend.
    for protocol in _MemoryGcs.protocol:
        monkeypatch.setitem(_FSSPEC_REGISTRY._registry, protocol, _MemoryGcs)
    _MemoryGcs.store.clear()
    yield _MemoryGcs.store
    _MemoryGcs.store.clear()


def test_sweep_on_a_remote_root_aggregates_through_epath(tmp_path, memory_gcs):
    path = _sweep_file(tmp_path, "product({'losses.penalty_weight': [1.0, 10.0]}, seeds(2))",
                       name="remote")
    sweep = sweeps.load_sweep(path, "gs://bucket/sweeps")
    assert sweep.root == "gs://bucket/sweeps/remote"
    assert sweep.runs[0].workdir == "gs://bucket/sweeps/remote/penalty_weight-1.0_seed-0"
    assert f"--workdir={sweep.runs[0].workdir}" in sweep.runs[0].flags
    assert not memory_gcs  # Loading writes nothing.
    for i, run in enumerate(sweep.runs):
        w = epath.Path(run.workdir)
        w.mkdir(parents=True)
        (w / "metrics.jsonl").write_text(
            json.dumps({"step": 2, "split": "eval", "modes": i, "precision": 0.5, "recall": 0.25})
            + "\n")
    assert not sweeps.is_finished(sweep.runs[0].workdir, 2)  # No checkpoint yet.

    paths = sweeps.aggregate(sweep)
    assert paths["csv"] == "gs://bucket/sweeps/remote/results.csv"
    rows = list(csv.DictReader(io.StringIO(epath.Path(paths["csv"]).read_text())))
    assert [float(r["modes"]) for r in rows] == [0, 1, 2, 3]
    assert "| 10.0 | 2 | 2.5 ± 0.7071 |" in epath.Path(paths["md"]).read_text()
    assert [p.rsplit("/", 1)[1] for p in paths["plots"]] == [
        "losses.penalty_weight.png", "settings.png", "precision_recall.png"]
    for p in paths["plots"]:
        assert p.startswith("gs://bucket/sweeps/remote/plots/")
        assert epath.Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["remote.py"]  # Nothing written here.
