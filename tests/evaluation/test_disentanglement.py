"""The disentanglement family on a dsprites encoder."""

import jax
import numpy as np

from genmodels import data, evaluation, methods, parallel
from tests.helpers import tiny_vae


def test_disentanglement_metrics_of_a_dsprites_encoder():
    config = tiny_vae()
    config.data.update(name="dsprites", image_size=32)
    config.eval.update(metrics=("mig", "sap", "dci_disentanglement", "beta_vae_score",
                                "factorvae_score"), disentanglement_num_examples=300,
                       disentanglement_num_train=40, disentanglement_num_eval=20)
    info = data.get_info(config.data)
    method = methods.build(config, info)
    batch = {"image": np.zeros((2, 32, 32, 1), np.uint8)}
    variables = method.init(jax.random.PRNGKey(0), batch)
    evaluator = evaluation.Evaluator(method, config, parallel.make_mesh())
    codes = evaluator.family("disentanglement").encode_fn(variables)(
        np.zeros((70, 32, 32, 1), np.uint8))
    assert codes.shape == (70, 4)  # padded batches of eval.batch_size, trimmed
    results = evaluator(variables, jax.random.PRNGKey(1))
    for name in ("mig", "sap", "dci_disentanglement", "dci_completeness", "beta_vae_score",
                 "factorvae_score"):
        assert 0.0 <= results[name] <= 1.0, name
    assert results["disentanglement_num_examples"] == 300
    assert results["beta_vae_score_num_train"] == 40
