"""genmodels.sweeps.report without training: the table's columns and the bpd-vs-Fréchet plots
never mix feature spaces (fid is Inception only; fd_classifier, fd_randconv name theirs). The
end-to-end report on trained runs is in tests/evaluation/test_evaluate_cli.py."""

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
