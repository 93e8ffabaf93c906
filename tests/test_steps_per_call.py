"""train.steps_per_call: k train steps in one device call (lax.scan) equal k single calls."""

import numpy as np
import pytest

from genmodels.train import loop
from genmodels.workdir import read_metrics
from tests.helpers import flat_params, tiny_gan, tiny_vae

TIMING = loop.TIMING_METRICS


def _config(make_config, k):
    c = make_config(num_steps=6, log_every=3, checkpoint_every=3, sample_every=3)
    c.eval.every = 3
    c.train.steps_per_call = k
    return c


def _metrics(workdir):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(workdir)]


@pytest.mark.parametrize("make_config", [tiny_vae, tiny_gan], ids=["vae", "gan"])
def test_scan_of_k_steps_equals_k_single_steps(tmp_path, make_config):
    single = loop.train_and_evaluate(_config(make_config, 1), str(tmp_path / "k1"))
    scanned = loop.train_and_evaluate(_config(make_config, 3), str(tmp_path / "k3"))
    assert int(scanned.step) == 6
    np.testing.assert_allclose(flat_params(scanned), flat_params(single), rtol=1e-5, atol=1e-6)
    a, b = _metrics(tmp_path / "k1"), _metrics(tmp_path / "k3")
    assert [(r["step"], r["split"]) for r in a] == [(r["step"], r["split"]) for r in b]
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        np.testing.assert_allclose([rb[k] for k in sorted(rb) if k != "split"],
                                   [ra[k] for k in sorted(ra) if k != "split"], rtol=1e-4)


def test_resume_with_steps_per_call(tmp_path):
    whole = loop.train_and_evaluate(_config(tiny_vae, 3), str(tmp_path / "whole"))
    c = _config(tiny_vae, 3)
    c.train.num_steps = 3
    loop.train_and_evaluate(c, str(tmp_path / "parts"))
    resumed = loop.train_and_evaluate(_config(tiny_vae, 3), str(tmp_path / "parts"))
    np.testing.assert_array_equal(flat_params(resumed), flat_params(whole))


def test_intervals_must_be_multiples_of_steps_per_call(tmp_path):
    c = _config(tiny_vae, 4)
    with pytest.raises(ValueError, match=r"steps_per_call=4 must divide train.num_steps=6, "
                                         r"train.log_every=3"):
        loop.train_and_evaluate(c, str(tmp_path))
