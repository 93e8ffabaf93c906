"""genmodels.sweeps.report without training: the table's columns and the bpd-vs-Fréchet plots
never mix feature spaces (fid is Inception only; fd_classifier, fd_randconv name theirs). The
end-to-end report on trained runs is in tests/evaluation/test_evaluate_cli.py."""

import json

from genmodels import workdir as workdir_lib
from genmodels.sweeps import report
from tests.helpers import tiny_gan, tiny_vae

ROWS = [{"run": "vae", "bpd": 2.0, "fd_classifier": 10.0, "fd_classifier_num_samples": 128},
        {"run": "flow", "bpd": 3.0, "fid": 40.0, "fid_num_samples": 10_000},
        {"run": "gan", "fid": 30.0},
        {"run": "vae_rand", "bpd": 2.5, "fd_randconv": 1.0}]


def test_each_frechet_plot_keeps_one_feature_space():
    points, note = report.split_rows(ROWS, "bpd", "fid")
    assert [r["run"] for r in points] == ["flow"]
    assert note == "\n(no bpd/fid: gan)\n(other feature space: vae, vae_rand)"
    points, note = report.split_rows(ROWS, "bpd", "fd_classifier")
    assert [r["run"] for r in points] == ["vae"]
    assert "other feature space: flow, gan, vae_rand" in note
    points, note = report.split_rows(ROWS, "recall", "precision")
    assert points == [] and "other feature space" not in note


def test_report_files_per_feature_space(tmp_path):
    records = {"vae": {"step": 0, "bpd": 2.0, "fd_classifier": 10.0, "is_classifier": 3.0,
                       "fd_classifier_num_samples": 128, "precision": 0.5, "recall": 0.4},
               "gan": {"step": 0, "fid": 30.0, "fid_num_samples": 10_000, "precision": 0.7,
                       "recall": 0.2}}
    for name, config in (("vae", tiny_vae()), ("gan", tiny_gan())):
        workdir_lib.save_config(config, tmp_path / name)
    asked = {}

    def evaluate(workdir, step, metrics):  # Stands in for api.evaluate_checkpoint.
        name = workdir.rsplit("/", 1)[1]
        asked[name] = list(metrics)
        return records[name]

    result = report.write_report([str(tmp_path / "vae"), str(tmp_path / "gan")],
                                 str(tmp_path / "out"), evaluate)
    assert set(asked) == {"vae", "gan"} and "bpd" in asked["vae"] and "bpd" not in asked["gan"]
    assert sorted(result["paths"]) == ["bpd_fd_classifier", "bpd_fid", "markdown",
                                       "precision_recall"]
    for key in ("bpd_fid", "bpd_fd_classifier", "precision_recall"):
        assert (tmp_path / "out" / f"{key}.png").read_bytes()[:4] == b"\x89PNG"
    header = [c.strip() for c in result["table"].splitlines()[0].split("|")[1:-1]]
    assert header == ["run", "method", "data", "step", "bpd", "fid", "fd_classifier",
                      "is_classifier", "precision", "recall", "fid_num_samples",
                      "fd_classifier_num_samples", "features"]
    text = (tmp_path / "out" / "report.md").read_text()
    assert "![bpd vs fid](bpd_fid.png)" in text and "(bpd_fd_classifier.png)" in text


def test_report_reads_the_evaluation_training_wrote(tmp_path, monkeypatch):
    """A run whose training evaluated its last checkpoint on the report metrics is not
    evaluated again; an older evaluation, or one that lacks a metric, is."""
    config = tiny_gan()
    workdir = tmp_path / "gan"
    workdir_lib.save_config(config, workdir)
    monkeypatch.setattr(workdir_lib, "latest_step", lambda w: 20)
    with open(workdir / "metrics.jsonl", "w") as f:
        for step, fid in ((10, 50.0), (20, 30.0)):
            f.write(json.dumps({"step": step, "split": "eval", "fid": fid, "is": 2.0, "kid": 0.1,
                                "precision": 0.6, "recall": 0.3, "density": 0.5,
                                "coverage": 0.4}) + "\n")
    asked = []

    def evaluate(workdir, step, metrics):
        asked.append((step, list(metrics)))
        return {"step": step, **{m: 1.0 for m in metrics}}

    record = report.ensure_evaluated(str(workdir), evaluate)
    assert asked == [] and record["fid"] == 30.0 and record["step"] == 20
    # The eval JSON of that step adds to (and overrides) the training's record.
    workdir_lib.write_eval(workdir, 20, {"step": 20, "split": "test", "fid": 29.0})
    assert report.ensure_evaluated(str(workdir), evaluate)["fid"] == 29.0 and asked == []
    # A newer checkpoint without any evaluation is evaluated on every report metric.
    monkeypatch.setattr(workdir_lib, "latest_step", lambda w: 30)
    record = report.ensure_evaluated(str(workdir), evaluate)
    assert asked and asked[0][0] == 30 and "fid" in asked[0][1] and record["fid"] == 1.0
