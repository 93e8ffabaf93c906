"""Coverage-vs-quality report over trained workdirs: precision vs recall and bpd vs FID scatter
plots (PNG) and a markdown table, one row per workdir, from each one's latest eval JSON."""

import math
import os

from genmodels.workdir import latest_eval, load_config

# Metrics the report shows, evaluated where a workdir's latest eval JSON lacks them.
REPORT_METRICS = ("bpd", "fid", "is", "kid", "precision", "recall", "density", "coverage")
# fid / is / kid under the key of each feature space (docs/evaluation.md); a table shows the
# columns some row has.
FRECHET_KEYS = ("fid", "fd_classifier", "fd_randconv")
COLUMNS = ("bpd", *FRECHET_KEYS, "is", "is_classifier", "kid", "kid_classifier", "kid_randconv",
           "precision", "recall", "density", "coverage", "prdc_features",
           *(f"{k}_num_samples" for k in FRECHET_KEYS), *(f"{k}_num_real" for k in FRECHET_KEYS))


def wanted_metrics(workdir: str) -> tuple[str, ...]:
    """The report metrics this workdir's method and dataset support."""
    from genmodels import api, data, evaluation, methods  # noqa: PLC0415

    config = load_config(workdir)
    info = data.get_info(config.data)
    method = methods.build(config, info)
    names = [n for n in REPORT_METRICS if evaluation.unsupported_reason(n, method, info) is None]
    if "is" in names:
        from genmodels.metrics import features  # noqa: PLC0415

        if features.resolve_kind(config.eval, info) == "random":
            names.remove("is")
    return tuple(names)


def ensure_evaluated(workdir: str, evaluate=None) -> dict:
    """The latest eval JSON of `workdir`, first evaluating the latest checkpoint on the report
    metrics it lacks (or when there is none)."""
    from genmodels import api  # noqa: PLC0415
    from genmodels.train.checkpoint import Checkpointer  # noqa: PLC0415

    evaluate = evaluate or api.evaluate_checkpoint
    checkpointer = Checkpointer(workdir, read_only=True)
    step = checkpointer.latest_step()
    checkpointer.close()
    record = latest_eval(workdir)
    if record is not None and record.get("step") != step:
        record = None  # Evaluated an older checkpoint: evaluate the latest.
    missing = [n for n in wanted_metrics(workdir)
               if record is None or _result_key(workdir, n) not in record]
    if missing:
        record = evaluate(workdir, step, missing)
    return record


def _result_key(workdir: str, name: str) -> str:
    """The key of `name` in the workdir's eval JSON (fid is fd_<space> off Inception)."""
    from genmodels import data, evaluation  # noqa: PLC0415
    from genmodels.metrics import features  # noqa: PLC0415

    config = load_config(workdir)
    return evaluation.result_key(name, features.resolve_kind(config.eval,
                                                             data.get_info(config.data)))


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    """One row per run: name, method, dataset, step, then COLUMNS and the feature network."""
    columns = [c for c in COLUMNS if any(r.get(c) is not None for r in rows)]
    head = ("run", "method", "data", "step", *columns, "features")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(k)) for k in head) + " |")
    return "\n".join(lines) + "\n"


def _scatter(rows, x: str, y: str, path: str, title: str) -> str | None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    points = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    markers = "osD^v<>ph*"
    for i, r in enumerate(points):  # A legend, not annotations: run names are long and overlap.
        ax.scatter(r[x], r[y], s=40, marker=markers[i % len(markers)], label=r["run"])
    left_out = [r["run"] for r in rows if r not in points]
    if left_out:
        title += f"\n(no {x}/{y}: {', '.join(left_out)})"
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title, fontsize=9)
    if x in ("precision", "recall"):
        ax.set_xlim(0, 1.05)
        ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    if points:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def write_report(workdirs: list[str], out_dir: str, evaluate=None) -> dict:
    """Writes out_dir/{report.md, precision_recall.png, bpd_fid.png}; returns their paths and
    the rows."""
    from genmodels import api  # noqa: PLC0415

    rows = []
    for workdir in workdirs:
        record = ensure_evaluated(workdir, evaluate)
        config = load_config(workdir)
        rows.append({"run": os.path.basename(os.path.normpath(workdir)), "method": config.method,
                     "data": config.data.name, **record})
    os.makedirs(out_dir, exist_ok=True)
    frechet = next((k for k in FRECHET_KEYS if any(k in r for r in rows)), "fid")
    paths = {
        "precision_recall": _scatter(rows, "recall", "precision",
                                     os.path.join(out_dir, "precision_recall.png"),
                                     "coverage (recall) vs quality (precision)"),
        "bpd_fid": _scatter(rows, "bpd", frechet, os.path.join(out_dir, "bpd_fid.png"),
                            f"likelihood (bpd) vs sample quality ({frechet})"),
    }
    table = markdown_table(rows)
    paths["markdown"] = os.path.join(out_dir, "report.md")
    with open(paths["markdown"], "w") as f:
        f.write("# Coverage vs quality\n\n" + table + "\n"
                "Lower bpd, FID and KID and higher IS, precision, recall, density and coverage "
                "are better. Precision/density measure quality (over-generalisation), "
                "recall/coverage measure mode coverage (docs/evaluation.md).\n\n"
                "![precision vs recall](precision_recall.png)\n\n![bpd vs FID](bpd_fid.png)\n")
    return {"paths": paths, "rows": rows, "table": table}
