"""Tables and plots of results, for sweeps (results.csv, results.md, plots/) and the cross-run
report: mean ± std over seeds, markdown tables, scatter and error-bar plots. Every file goes
through etils.epath, so the output directory may be remote (gs://...). Figures are built with
matplotlib's object API (no pyplot, no global backend)."""

import csv
import dataclasses
import io
import math
from typing import Iterable, Sequence

from etils import epath
from matplotlib.figure import Figure

from genmodels.sweeps.overrides import SEED, SweepError, canonical_value, format_value, slug
from genmodels.sweeps.specification import Run, Sweep
from genmodels.workdir import has_final_record, last_record, read_metrics, train_seconds

_MARKERS = "osD^v<>ph*"


# ---------------------------------------------------------------------------------------------
# Numbers and cells.

def is_number(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def numeric_metrics(records: Iterable[dict]) -> list[str]:
    """Names of the numeric values in any record (null counts: it is how NaN is written)."""
    return sorted({k for r in records for k, v in r.items()
                   if k not in ("step", "split") and is_number(v)})


def as_float(v) -> float:
    return math.nan if v is None else float(v)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1); std is NaN for a single value."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    if any(math.isnan(v) for v in values):
        return math.nan, math.nan
    if min(values) == max(values):  # Exact for constant metrics (fsum / n can round).
        return values[0], (math.nan if n == 1 else 0.0)
    mean = math.fsum(values) / n
    if any(math.isinf(v) for v in values):
        return mean, math.nan
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def summary_cell(values: Sequence[float]) -> str:
    mean, std = mean_std(values)
    if not values:
        return "–"
    return _fmt(mean) if len(values) == 1 else f"{_fmt(mean)} ± {_fmt(std)}"


def setting_cell(v) -> str:
    """A swept value as its override is written (empty when a run does not set the field)."""
    return "" if v is None else format_value(v)


def value_cell(v) -> str:
    """A metric value: 4 significant digits, "–" when missing or not finite."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return _fmt(v) if isinstance(v, float) else str(v)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Files.

def write_text(path, text: str) -> str:
    p = epath.Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return str(p)


def save_figure(fig: Figure, path, **kwargs) -> str:
    p = epath.Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("wb") as f:
        fig.savefig(f, format="png", **kwargs)
    return str(p)


def scatter(series: Sequence[tuple[str | None, list[tuple[float, float]]]], x: str, y: str,
            path, title: str = "", unit_square: bool = False, legend_outside: bool = False) -> str:
    """One marker style per labelled series of (x, y) points; writes a PNG to `path`."""
    fig = Figure(figsize=(4.5 if legend_outside else 5, 4))
    ax = fig.subplots()
    for i, (label, points) in enumerate(series):
        if points:
            ax.scatter(*zip(*points), s=40, marker=_MARKERS[i % len(_MARKERS)], label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title, fontsize=9)
    if unit_square:
        ax.set_xlim(0, 1.05)
        ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    labelled = [s for s in series if s[0] and s[1]]
    if legend_outside and labelled:  # Run names are long: a legend, not annotations.
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    elif 1 < len(labelled) <= 12:
        ax.legend(fontsize=6)
    return save_figure(fig, path, dpi=120 if legend_outside else 100, bbox_inches="tight")


# ---------------------------------------------------------------------------------------------
# Sweep results.

@dataclasses.dataclass
class Table:
    fields: list  # Swept fields other than the seed, in first-seen order.
    metrics: list
    rows: list  # One per run: (Run, record or None).
    groups: list  # One per setting: (setting tuple, [records]) in first-seen order.
    in_progress: dict = dataclasses.field(default_factory=dict)  # Run id -> its latest step.
    evals: dict = dataclasses.field(default_factory=dict)  # Run id -> its eval records.
    kept: list = dataclasses.field(default_factory=list)  # Ids whose rows came from `previous`.


@dataclasses.dataclass
class KeptRun:
    """A run's rows in results files an earlier aggregation wrote (`read_previous`)."""
    record: dict  # Its results.csv row: step and metrics.
    evals: list  # Its evals.csv rows, one per evaluation (empty without an evals file).


def last_evals_names(metric: str, k: int) -> tuple[str, str]:
    """The columns of `metric` over a run's last k evaluations: their mean, and their standard
    deviation (ddof=1), which measures how much the metric swings between evaluations."""
    return f"{metric}_last{k}", f"{metric}_last{k}_std"


TRAIN_MINUTES = "train_minutes"


def run_record(records: Sequence[dict], metrics: Sequence[str] = (),
               last_evals: int = 0) -> dict | None:
    """The final record of a run's W/metrics.jsonl `records` (`workdir.last_record`) plus
    TRAIN_MINUTES, the wall time of its train steps (`workdir.train_seconds`), and, when
    last_evals = k > 1, each metric's mean and standard deviation over the last k eval records
    (`last_evals_names`; left out while the run has fewer than k evaluations). None without a
    record."""
    record = last_record(records)
    if record is None:
        return None
    record, seconds = dict(record), train_seconds(records)
    if seconds is not None:
        record[TRAIN_MINUTES] = seconds / 60
    evals = [r for r in records if r.get("split") == "eval"][-last_evals:] if last_evals else []
    if last_evals and len(evals) == last_evals:
        for m in metrics:
            if all(m in r for r in evals):
                record.update(zip(last_evals_names(m, last_evals),
                                  mean_std([as_float(r[m]) for r in evals])))
    return record


def collect(runs: Sequence[Run], metrics: Sequence[str] | None = None,
            last_evals: int = 0, previous: dict | None = None) -> Table:
    """Each finished run's `run_record` and eval records, grouped by its overrides other than
    the seed. A run is finished when its records reach its train.num_steps
    (`workdir.has_final_record`: with an eval record if the run has eval.metrics). Any other run
    (still training, or stopped before its final evaluation) has no record here, so a table
    never mixes an early evaluation with finished runs' final ones; its latest step goes to
    Table.in_progress. A run with no records on disk takes its rows from `previous` (run id ->
    KeptRun, `read_previous`) when they are there, and is listed in Table.kept."""
    rows, in_progress, evals, kept = [], {}, {}, []
    for run in runs:
        records = read_metrics(run.workdir)
        if not records and run.id in (previous or {}):
            rows.append((run, previous[run.id].record))
            evals[run.id] = previous[run.id].evals
            kept.append(run.id)
            continue
        record = run_record(records, metrics or (), last_evals)
        if record is not None and not has_final_record(
                records, run.config.train.num_steps, bool(run.config.eval.metrics)):
            in_progress[run.id], record = record["step"], None
        if record is not None:
            evals[run.id] = [r for r in records if r.get("split") == "eval"]
        rows.append((run, record))
    fields = list(dict.fromkeys(k for run in runs for k in run.overrides if k != SEED))
    found = [rec for _, rec in rows if rec]
    metrics = list(metrics) if metrics is not None else numeric_metrics(found)
    if last_evals:  # TRAIN_MINUTES is of the whole run, not of an evaluation.
        metrics += [name for m in metrics if m != TRAIN_MINUTES
                    for name in last_evals_names(m, last_evals)]
    groups: dict[tuple, list] = {}
    for run, rec in rows:
        setting = tuple(run.overrides.get(f) for f in fields)  # None: not set by this run.
        groups.setdefault(tuple(map(canonical_value, setting)), (setting, []))[1].append(rec)
    return Table(fields, metrics, rows, [(s, [r for r in recs if r]) for s, recs in
                                         groups.values()], in_progress, evals, kept)


def write_csv(table: Table, path) -> str:
    """One row per run: id, swept fields (seed included), step, metrics (empty if no results)."""
    swept = list(dict.fromkeys(k for run, _ in table.rows for k in run.overrides))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", *swept, "step", *table.metrics])
    for run, rec in table.rows:
        rec = rec or {}
        writer.writerow([run.id, *(setting_cell(run.overrides.get(k)) for k in swept),
                         rec.get("step", ""),
                         *(repr(as_float(rec[m])) if m in rec else "" for m in table.metrics)])
    return write_text(path, out.getvalue())


def write_evals_csv(table: Table, path) -> str:
    """One row per evaluation of each finished run (id, step, metrics): the trajectory behind
    results.csv's final and last-K values."""
    metrics = [m for m in table.metrics if any(m in r for rs in table.evals.values() for r in rs)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "step", *metrics])
    for run, _ in table.rows:
        for rec in table.evals.get(run.id, []):
            writer.writerow([run.id, rec["step"], *(repr(as_float(rec[m])) if m in rec else ""
                                                    for m in metrics)])
    return write_text(path, out.getvalue())


def _read_rows(path) -> list[dict]:
    """Rows of a results.csv or evals.csv: {"id", "step" (int), metric: float} for the columns
    after "step" (the swept fields before it are left out), empty cells left out."""
    path = epath.Path(path)
    if not path.exists():
        raise SweepError(f"Results file {path} does not exist.")
    reader = csv.reader(io.StringIO(path.read_text()))
    header = next(reader, [])
    if header[:1] != ["id"] or "step" not in header:
        raise SweepError(f"{path} is not a sweep's results.csv or evals.csv: its header must "
                         "start with 'id' and hold 'step'.")
    first = header.index("step")
    rows = []
    for cells in reader:
        if len(cells) > first and cells[first]:
            row = {"id": cells[0], "step": int(cells[first])}
            row.update((m, float(v)) for m, v in zip(header[first + 1:], cells[first + 1:]) if v)
            rows.append(row)
    return rows


def read_previous(results_csv, evals_csv=None) -> dict:
    """Run id -> KeptRun from the results.csv (and evals.csv) of an earlier aggregation, for the
    runs with results there (`collect`'s `previous`): a sweep's rows outlive its workdirs."""
    evals: dict = {}
    for row in _read_rows(evals_csv) if evals_csv else []:
        evals.setdefault(row.pop("id"), []).append({"split": "eval", **row})
    kept = {}
    for row in _read_rows(results_csv):
        run_id = row.pop("id")
        kept[run_id] = KeptRun(row, evals.get(run_id, []))
    return kept


def write_markdown(table: Table, path, title: str) -> str:
    """One row per setting: its swept values, n seeds, mean ± std (ddof=1) of each metric."""
    missing = [run.id + (f" (at step {table.in_progress[run.id]})"
                         if run.id in table.in_progress else "")
               for run, rec in table.rows if rec is None]
    lines = [f"# {title}", "",
             f"{len(table.rows) - len(missing)} of {len(table.rows)} runs have results; each "
             "cell is the mean ± std (ddof=1) over seeds of the final eval record (the final "
             "train record where a run has no eval) of the finished runs.", ""]
    if missing:
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        lines += [f"No results yet: {shown}.", ""]
    if table.kept:
        lines += [f"{len(table.kept)} of the runs with results are kept from an earlier "
                  "aggregation (their workdirs are not on disk).", ""]
    rows = []
    for setting, records in table.groups:
        if not records:
            continue
        cells = [setting_cell(v) for v in setting] + [str(len(records))]
        for m in table.metrics:
            values = [as_float(r[m]) for r in records if m in r]
            cells.append(summary_cell(values) +
                         (f" (n={len(values)})" if len(values) < len(records) else ""))
        rows.append(cells)
    text = "\n".join(lines) + "\n" + markdown_table([*table.fields, "n", *table.metrics], rows)
    return write_text(path, text)


def _numeric_fields(table: Table) -> list[str]:
    out = []
    for i, f in enumerate(table.fields):
        values = [s[i] for s, recs in table.groups if recs and s[i] is not None]
        if len(set(values)) > 1 and all(is_number(v) for v in values):
            out.append(f)
    return out


def _label(pairs) -> str | None:
    return ", ".join(f"{f.split('.')[-1]}={setting_cell(v)}" for f, v in pairs
                     if v is not None) or None


def _field_plot(table: Table, field: str, metrics: list[str], path) -> str:
    """metric vs a numeric swept field: one line per setting of the other fields, error bars =
    std over seeds."""
    i = table.fields.index(field)
    lines: dict[tuple, list] = {}
    for setting, records in table.groups:
        if records and setting[i] is not None:
            rest = tuple((f, v) for j, (f, v) in enumerate(zip(table.fields, setting)) if j != i)
            lines.setdefault(rest, []).append((setting[i], records))
    fig = Figure(figsize=(4 * len(metrics), 3.2))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for rest, points in lines.items():
            points.sort(key=lambda p: p[0])
            stats = [mean_std([as_float(r[metric]) for r in recs if metric in r])
                     for _, recs in points]
            ax.errorbar([p[0] for p in points], [s[0] for s in stats],
                        yerr=[0 if math.isnan(s[1]) else s[1] for s in stats],
                        marker="o", capsize=3, label=_label(rest))
        ax.set_xlabel(field)
        ax.set_ylabel(metric)
        if 1 < len(lines) <= 12 and metric == metrics[0]:
            ax.legend(fontsize=6)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def _settings_plot(table: Table, metrics: list[str], path) -> str:
    """Per metric, one row per setting with each seed's value (dots) and the mean ± std over
    seeds (bar): the view of categorical axes such as loss names."""
    groups = [(_label(zip(table.fields, setting)) or "(base)", records)
              for setting, records in table.groups if records]
    fig = Figure(figsize=(3.2 * len(metrics) + 3, 0.3 * len(groups) + 1.2))
    axes = fig.subplots(1, len(metrics), squeeze=False, sharey=True)
    for ax, metric in zip(axes[0], metrics):
        for row, (_, records) in enumerate(groups):
            values = [as_float(r[metric]) for r in records if metric in r]
            mean, std = mean_std(values)
            ax.errorbar([mean], [row], xerr=[0 if math.isnan(std) else std], fmt="s",
                        color="black", capsize=3, markersize=4)
            ax.plot(values, [row] * len(values), "o", alpha=0.5, markersize=3)
        ax.set_xlabel(metric)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(groups)), [label for label, _ in groups], fontsize=7)
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def write_plots(table: Table, directory) -> list[str]:
    """<field>.png for each numeric swept field, settings.png (every setting's seeds and mean ±
    std per metric), and precision_recall.png when both exist. Returns the paths."""
    directory = epath.Path(directory)
    metrics = [m for m in table.metrics if not m.endswith("_num_samples")] or table.metrics
    paths = [_field_plot(table, field, metrics, directory / f"{slug(field)}.png")
             for field in _numeric_fields(table)]
    if table.groups:
        paths.append(_settings_plot(table, metrics, directory / "settings.png"))
    if "precision" in table.metrics and "recall" in table.metrics:
        series = [(_label(zip(table.fields, setting)),
                   [(as_float(r["recall"]), as_float(r["precision"])) for r in records
                    if "recall" in r and "precision" in r])
                  for setting, records in table.groups]
        paths.append(scatter(series, "recall", "precision", directory / "precision_recall.png"))
    return paths


def aggregate(sweep: Sweep, previous: dict | None = None) -> dict:
    """Writes ROOT/<sweep>/results.csv, evals.csv, results.md and plots/*.png; returns their
    paths. previous: rows of an earlier aggregation (`read_previous`) for runs not on disk."""
    table = collect(sweep.runs, sweep.metrics, sweep.last_evals, previous)
    root = epath.Path(sweep.root)
    return {"csv": write_csv(table, root / "results.csv"),
            "evals": write_evals_csv(table, root / "evals.csv"),
            "md": write_markdown(table, root / "results.md",
                                 f"Sweep {sweep.name} (base {sweep.base})" + (
                                     f"; M_last{sweep.last_evals}: the mean of M over each "
                                     f"run's last {sweep.last_evals} evaluations"
                                     if sweep.last_evals else "")),
            "plots": write_plots(table, root / "plots")}
