"""genmodels/config.py: configs saved before a field existed load with the value those runs used
(SAVED_CONFIG_UPGRADES, SAVED_METHOD_UPGRADES), and the per-method field check."""

import importlib
import json

import ml_collections
import pytest

from genmodels import config as config_lib
from genmodels import data, methods


def _strip_added_fields(block: dict, method: str) -> dict:
    """`block` as a run saved before every upgraded field existed would have written it."""
    for identifying, added in config_lib.SAVED_CONFIG_UPGRADES:
        if all(k in block for k in identifying):
            for k in added:
                block.pop(k, None)
    for field in config_lib.SAVED_METHOD_UPGRADES.get(method, {}):
        *blocks, name = field.split(".")
        inner = block
        for b in blocks:
            inner = inner.get(b, {})
        inner.pop(name, None)
    for v in block.values():
        if isinstance(v, dict):
            _strip_added_fields(v, method)
    return block


def _added_value(field: str, method: str):
    """The value SAVED_METHOD_UPGRADES or SAVED_CONFIG_UPGRADES gives a missing `field`."""
    if field in config_lib.SAVED_METHOD_UPGRADES.get(method, {}):
        return config_lib.SAVED_METHOD_UPGRADES[method][field]
    (value,) = {added[field.rsplit(".", 1)[-1]] for _, added in config_lib.SAVED_CONFIG_UPGRADES
                if field.rsplit(".", 1)[-1] in added}
    return value


@pytest.mark.parametrize("name", ["vae", "hybrid", "agave", "pixelcnn", "gan", "bgan", "ali"])
def test_a_config_saved_before_the_added_fields_loads_and_builds(name):
    """Every stripped field comes back with its upgrade value, every saved value is kept, and
    the method builds from it (the upgrades add no field the method does not read)."""
    today = json.loads(importlib.import_module(f"configs.{name}").get_config().to_json())
    method = today["method"]
    old = config_lib.flatten(_strip_added_fields(json.loads(json.dumps(today)), method))
    merged_dict = json.loads(json.dumps(config_lib.merge_over_defaults(
        _strip_added_fields(json.loads(json.dumps(today)), method))))
    merged, flat_today = config_lib.flatten(merged_dict), config_lib.flatten(today)
    added = flat_today.keys() - old.keys()
    assert added and merged.keys() == flat_today.keys()
    assert all(merged[k] == v for k, v in old.items())
    assert all(merged[k] == _added_value(k, method) for k in added)
    config = ml_collections.ConfigDict(merged_dict)
    methods.build(config, data.get_info(config.data))


def test_an_old_flow_config_keeps_the_256_levels_it_was_trained_on():
    today = json.loads(importlib.import_module("configs.flow").get_config().to_json())
    old = _strip_added_fields(json.loads(json.dumps(today)), "flow")
    assert "flow" not in old["losses"] and "num_levels" not in old["model"]
    merged = config_lib.merge_over_defaults(old)
    assert merged["losses"]["flow"] == "nll_bits" and merged["model"]["num_levels"] == 256
