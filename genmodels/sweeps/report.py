"""Coverage-vs-quality report over trained workdirs: a markdown table (one row per workdir, from
each one's latest eval JSON), precision vs recall, and bpd vs a Fréchet distance, one plot per
feature space (`fid` is Inception only; `fd_classifier`, `fd_randconv` name their space), so no
plot mixes spaces."""

import os

from etils import epath

from genmodels import api, data, evaluation, methods
from genmodels import workdir as workdir_lib
from genmodels.metrics import features
from genmodels.sweeps import tables

# Metrics the report asks for, evaluated where a workdir's latest eval JSON lacks them; each is
# present when any of its feature-space keys is.
REPORT_METRICS = ("bpd", "fid", "is", "kid", "precision", "recall", "density", "coverage")
SPACE_KEYS = {"fid": ("fid", "fd_classifier", "fd_randconv"),
              "kid": ("kid", "kid_classifier", "kid_randconv"),
              "is": ("is", "is_classifier")}
FRECHET_KEYS = SPACE_KEYS["fid"]
COLUMNS = ("bpd", *FRECHET_KEYS, *SPACE_KEYS["is"], *SPACE_KEYS["kid"], "precision", "recall",
           "density", "coverage", *(f"{k}_num_samples" for k in FRECHET_KEYS), "fid_num_real")


def wanted_metrics(workdir: str) -> tuple[str, ...]:
    """The report metrics this workdir's method and dataset support."""
    config = workdir_lib.load_config(workdir)
    info = data.get_info(config.data)
    method = methods.build(config, info)
    names = [n for n in REPORT_METRICS if evaluation.unsupported_reason(n, method, info) is None]
    if "is" in names and features.resolve_kind(config.eval, info) == "random":
        names.remove("is")
    return tuple(names)


def _has(record: dict, name: str) -> bool:
    return any(k in record for k in SPACE_KEYS.get(name, (name,)))


def latest_results(workdir: str, step: int) -> dict | None:
    """What W already holds about checkpoint `step`: the eval record training wrote to
    W/metrics.jsonl at that step, updated by W/eval/step_<step>.json (`experiments.evaluate`;
    its values win); None if neither exists."""
    trained = [r for r in workdir_lib.read_metrics(workdir, "eval") if r.get("step") == step]
    record = workdir_lib.latest_eval(workdir)
    if record is not None and record.get("step") != step:
        record = None  # Evaluated an older checkpoint.
    if not trained and record is None:
        return None
    return {**(trained[-1] if trained else {}), **(record or {})}


def ensure_evaluated(workdir: str, evaluate=None) -> dict:
    """`latest_results` of the latest checkpoint, first evaluating it on the report metrics
    they lack (or when there are none)."""
    evaluate = evaluate or api.evaluate_checkpoint
    step = workdir_lib.latest_step(workdir)
    record = latest_results(workdir, step)
    missing = [n for n in wanted_metrics(workdir) if record is None or not _has(record, n)]
    if missing:
        record = {**(record or {}), **evaluate(workdir, step, missing)}
    return record


def markdown_table(rows: list[dict]) -> str:
    """One row per run: name, method, dataset, step, the COLUMNS some run has, the features."""
    head = ("run", "method", "data", "step", *(c for c in COLUMNS if any(c in r for r in rows)),
            "features")
    return tables.markdown_table(head, [[tables.value_cell(r.get(k)) for k in head]
                                        for r in rows])


def split_rows(rows: list[dict], x: str, y: str) -> tuple[list[dict], str]:
    """The rows that have both keys, and a note naming the others: those without the keys, and
    (for a Fréchet key) those measured in another feature space."""
    points = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    left_out = [r for r in rows if r not in points]
    other = [r["run"] for r in left_out if y in FRECHET_KEYS and
             any(r.get(k) is not None for k in FRECHET_KEYS if k != y)]
    rest = [r["run"] for r in left_out if r["run"] not in other]
    note = "".join([f"\n(no {x}/{y}: {', '.join(rest)})" if rest else "",
                    f"\n(other feature space: {', '.join(other)})" if other else ""])
    return points, note


def _scatter(rows: list[dict], x: str, y: str, path, title: str) -> str:
    points, note = split_rows(rows, x, y)
    series = [(r["run"], [(r[x], r[y])]) for r in points]
    return tables.scatter(series, x, y, path, title + note,
                          unit_square=x in ("precision", "recall"), legend_outside=True)


def write_report(workdirs: list[str], out_dir: str, evaluate=None) -> dict:
    """Writes out_dir/{report.md, precision_recall.png, bpd_<Fréchet key>.png per feature space
    the runs have (bpd_fid.png for Inception)}; returns their paths, the rows and the table."""
    rows = []
    for workdir in workdirs:
        record = ensure_evaluated(workdir, evaluate)
        config = workdir_lib.load_config(workdir)
        rows.append({"run": os.path.basename(os.path.normpath(str(workdir))),
                     "method": config.method, "data": config.data.name, **record})
    out = epath.Path(out_dir)
    paths = {"precision_recall": _scatter(rows, "recall", "precision",
                                          out / "precision_recall.png",
                                          "coverage (recall) vs quality (precision)")}
    spaces = [k for k in FRECHET_KEYS if any(r.get(k) is not None for r in rows)] or ["fid"]
    for key in spaces:
        paths[f"bpd_{key}"] = _scatter(rows, "bpd", key, out / f"bpd_{key}.png",
                                       f"likelihood (bpd) vs sample quality ({key})")
    table = markdown_table(rows)
    images = "\n\n".join(["![precision vs recall](precision_recall.png)",
                          *(f"![bpd vs {k}](bpd_{k}.png)" for k in spaces)])
    paths["markdown"] = tables.write_text(
        out / "report.md",
        "# Coverage vs quality\n\n" + table + "\n"
        "Lower bpd, Fréchet distances (fid: Inception features; fd_classifier, fd_randconv: "
        "the named feature space) and KID, and higher IS, precision, recall, density and "
        "coverage are better; values of different feature spaces are not comparable. "
        "Precision/density measure quality (over-generalisation), recall/coverage measure mode "
        "coverage (docs/evaluation.md).\n\n" + images + "\n")
    return {"paths": paths, "rows": rows, "table": table}
