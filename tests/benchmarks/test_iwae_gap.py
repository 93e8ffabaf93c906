"""benchmarks.iwae_gap: the stratified estimate of the test bpd at a larger IWAE k."""

import numpy as np
import pytest

from benchmarks import iwae_gap
from genmodels import data
from genmodels.train import loop
from tests.helpers import tiny_vae


def test_stratified_gain_is_the_exact_mean_when_the_sample_is_the_whole_rest():
    d = np.random.default_rng(0).normal(size=50)
    gain, se = iwae_gap.stratified_gain(d[:5], d[5:], 50)
    np.testing.assert_allclose(gain, d.mean(), rtol=1e-12)
    assert se == 0.0
    # From a sample: the worst stratum counts once per image, the sample's mean for the others.
    gain, se = iwae_gap.stratified_gain(np.array([3.0, 1.0]), np.array([0.5, 1.5]), 10)
    assert gain == pytest.approx((3.0 + 1.0 + 8 * 1.0) / 10)
    sample_se = np.std([0.5, 1.5], ddof=1) / np.sqrt(2)
    assert se == pytest.approx(8 / 10 * sample_se * np.sqrt(1 - 2 / 8))


def test_estimate_equals_the_direct_large_k_mean_when_the_strata_cover_the_split(tmp_path):
    config = tiny_vae(num_steps=2, checkpoint_every=2, sample_every=2)
    config.eval.iwae_k, config.eval.iwae_chunk = 2, 2
    config.eval.every = 2
    loop.train_and_evaluate(config, str(tmp_path))
    n = len(data.get_source(config.data, "test"))
    result = iwae_gap.estimate(str(tmp_path), None, 1, 8, worst=7, random=n - 7, chunk=4,
                               batch_size=64, seed=3)
    small = iwae_gap.per_image_bpd(iwae_gap.load_at_k(str(tmp_path), None, 1, 4), np.arange(n),
                                   64, 3)
    order = np.argsort(-small)
    rescored = np.concatenate([np.sort(order[:7]), np.sort(order[7:])])
    large = iwae_gap.per_image_bpd(iwae_gap.load_at_k(str(tmp_path), 2, 8, 4), rescored, 64, 4)
    assert result["step"] == 2 and result["bpd_k1"] == pytest.approx(small.mean(), rel=1e-6)
    assert result["bpd_k8_estimate"] == pytest.approx(large.mean(), rel=1e-5)
    assert result["gain"] > 0 and result["gain_worst_stratum"] == pytest.approx(
        (small[order[:7]].mean() - large[:7].mean()), rel=1e-4)


def test_estimate_rejects_k_out_of_order_and_strata_larger_than_the_split(tmp_path):
    config = tiny_vae(num_steps=1, checkpoint_every=1, sample_every=1)
    config.eval.every = 1
    loop.train_and_evaluate(config, str(tmp_path))
    with pytest.raises(ValueError, match="larger one"):
        iwae_gap.estimate(str(tmp_path), None, 8, 8, 1, 2, 4, 64, 0)
    with pytest.raises(ValueError, match="test images"):
        iwae_gap.estimate(str(tmp_path), None, 1, 2, 10**6, 2, 4, 64, 0)
