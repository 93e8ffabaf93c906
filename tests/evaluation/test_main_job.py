"""The project's main job (configs/hybrid.py) evaluates both sides of its question by default:
test bpd, and sample quality and coverage."""

import jax
import numpy as np

import configs.hybrid
from genmodels import data, evaluation, methods, parallel
from tests.helpers import small_sample_eval


def test_the_hybrid_main_job_reports_both_sides_by_default(tmp_path):
    """The default preset's eval.metrics (used in training and by experiments.evaluate
    --workdir=W) give test bpd and sample quality and coverage with their sample counts; on
    patches (no labels, no Inception) in the random conv net's space, under its keys."""
    config = small_sample_eval(configs.hybrid.get_config(), tmp_path / "cache")
    assert {"bpd", "fid", "kid", "precision", "recall", "density", "coverage"} <= set(
        config.eval.metrics)
    config.data.image_size = 8
    config.model.update(dict(latent_dim=4, encoder_features=(8,), decoder_features=(8,),
                             dense=16, d_features=8))
    config.model.flow.update(dict(depth=1, hidden=8))
    config.eval.update(dict(batch_size=64, num_examples=64, iwae_k=1, iwae_chunk=1))
    info = data.get_info(config.data)
    method = methods.build(config, info)
    variables = method.init(jax.random.PRNGKey(0), {"image": np.zeros((2, 8, 8, 3), np.uint8)})
    evaluator = evaluation.Evaluator(method, config, parallel.make_mesh())
    results = evaluator(variables, jax.random.PRNGKey(1))
    assert results["bpd"] > 0 and results["num_examples"] == 64
    assert results["fd_randconv"] > 0 and results["fd_randconv_num_samples"] == 128
    assert results["kid_randconv_num_real"] == 256 and np.isfinite(results["kid_randconv"])
    assert results["prdc_num_samples"] == 128 and not {"fid", "kid"} & set(results)
    for name in ("precision", "recall", "density", "coverage"):
        assert np.isfinite(results[name])
    assert evaluator.metadata["prdc_features"] == "randconv"
