"""Every number in a documentation table comes from a results file written by a script.

Convention (docs/benchmarks.md, "Figures in the docs"): a table of measured figures is preceded by
`<!-- results: benchmarks/results/A.json[, benchmarks/results/B.csv] -->`. Each number in its cells
(the header row and the first, label column aside; text in backticks is code, not a figure) must
equal, at the precision shown, a value in those files times one unit factor (1, 100 for %, 1e3 or
1e-3 for ms/s, 1/60 for minutes). A CSV also offers, per group of rows that agree on every column
before `step` except `id` and `seed` (one sweep setting over its seeds), each metric's mean and
standard deviation, the group's size and its count of non-finite values. A table with numbers that
are not measurements (defaults, shapes, formulas) says so with `<!-- not-results: why -->`.
"""

import csv
import glob
import json
import math
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", *sorted(os.path.relpath(p, ROOT)
                             for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))]
UNITS = (1.0, 100.0, 1e3, 1e-3, 1 / 60)
_NUMBER = re.compile(r"(?<![\w.])[-\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w.])")
_RESULTS = re.compile(r"<!--\s*results:\s*(.+?)\s*-->")
# Results JSONs that a script writes without benchmarks.common.write_results: name -> script.
_WRITTEN_WITHOUT_MACHINE = {"idgan_dsprites.json": "benchmarks/idgan_dsprites.py"}
# Docs whose tables are being re-measured elsewhere and have no results file yet: doc -> why.
# Remove an entry as soon as its tables cite their files.
_PENDING = {}
_NOT_RESULTS = re.compile(r"<!--\s*not-results:.+?-->")


def _tables(text: str):
    """(line number, marker line or None, rows) for each markdown table; rows are cell lists
    without the header and separator rows."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("|"):
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j].startswith("|"):
            j += 1
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        marker = lines[k] if k >= 0 and lines[k].lstrip().startswith("<!--") else None
        rows = [[c.strip() for c in row.strip().strip("|").split("|")] for row in lines[i + 2:j]]
        yield i + 1, marker, rows
        i = j


def _numbers(cell: str) -> list[tuple[float, int]]:
    """(value, decimals shown) of each number in a cell, code spans left out."""
    cell = re.sub(r"`[^`]*`", "", cell)
    out = []
    for token in _NUMBER.findall(cell):
        token = token.replace(",", "").replace("\u2212", "-")
        decimals = len(token.split(".")[1]) if "." in token else 0
        out.append((float(token), decimals))
    return out


def _value_numbers(rows):
    return [n for row in rows for cell in row[1:] for n in _numbers(cell)]


def _json_values(node):
    if isinstance(node, dict):
        for key, value in node.items():
            try:
                yield float(key)
            except ValueError:
                pass
            yield from _json_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _json_values(value)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield float(node)


def _float(text: str):
    try:
        return float(text)
    except ValueError:
        return None


def _csv_values(path: str):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = list(rows[0])
    by = [c for c in columns[:columns.index("step")] if c not in ("id", "seed")]
    metrics = columns[columns.index("step") + 1:]
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[c] for c in by), []).append(row)
        yield from (v for v in map(_float, row.values()) if v is not None)
    for group in groups.values():
        yield float(len(group))
        for metric in metrics:
            values = [_float(r[metric]) for r in group]
            finite = [v for v in values if v is not None and math.isfinite(v)]
            yield float(len(values) - len(finite))
            if finite:
                mean = sum(finite) / len(finite)
                yield mean
                ss = sum((v - mean) ** 2 for v in finite)
                yield math.sqrt(ss / len(finite))
                if len(finite) > 1:
                    yield math.sqrt(ss / (len(finite) - 1))


def _file_values(path: str) -> list[float]:
    full = os.path.join(ROOT, path)
    assert os.path.exists(full), f"{path} is cited by a docs table but does not exist"
    if path.endswith(".csv"):
        return list(_csv_values(full))
    with open(full) as f:
        return list(_json_values(json.load(f)))


def _matches(shown: float, decimals: int, values: list[float]) -> bool:
    tolerance = 0.5 * 10.0**-decimals * (1 + 1e-9) + 1e-12
    return any(math.isfinite(v) and abs(v * unit - shown) <= tolerance
               for v in values for unit in UNITS)


def _cited_tables():
    for doc in DOCS:
        with open(os.path.join(ROOT, doc)) as f:
            text = f.read()
        for line, marker, rows in _tables(text):
            match = _RESULTS.search(marker or "")
            if match:
                files = [p.strip() for p in match.group(1).split(",")]
                yield pytest.param(doc, line, files, rows, id=f"{doc}:{line}")


@pytest.mark.parametrize("doc,line,files,rows", list(_cited_tables()))
def test_table_numbers_come_from_results_files(doc, line, files, rows):
    values = [v for path in files for v in _file_values(path)]
    missing = [shown for shown, decimals in _value_numbers(rows)
               if not _matches(shown, decimals, values)]
    assert not missing, (f"{doc}:{line}: {missing} are in no file of {files} at the precision "
                         "shown; regenerate the figure with its script, don't edit it by hand")


def test_every_table_of_figures_is_marked():
    unmarked = []
    for doc in DOCS:
        if doc in _PENDING:
            continue
        with open(os.path.join(ROOT, doc)) as f:
            text = f.read()
        for line, marker, rows in _tables(text):
            if _value_numbers(rows) and not (_RESULTS.search(marker or "")
                                             or _NOT_RESULTS.search(marker or "")):
                unmarked.append(f"{doc}:{line}")
    assert not unmarked, (f"tables with numbers but no `<!-- results: FILE -->` (or "
                          f"`<!-- not-results: why -->`) line above them: {unmarked}")


def test_checker_rejects_an_edited_figure():
    rows = [["DCGAN", "294 ms", "42%"]]
    values = [293.5666, 0.42016]
    assert not [n for n in _value_numbers(rows) if not _matches(*n, values)]
    edited = [["DCGAN", "284 ms", "42%"]]
    assert [n for n in _value_numbers(edited) if not _matches(*n, values)] == [(284.0, 0)]


def test_no_results_file_is_assembled_by_hand():
    """Scripts write results through benchmarks.common.write_results (with the machine) or as a
    sweep's results.csv; a JSON without "machine" was typed or pasted together."""
    for path in glob.glob(os.path.join(ROOT, "benchmarks", "results", "*.json")):
        with open(path) as f:
            data = json.load(f)
        name = os.path.basename(path)
        if name in _WRITTEN_WITHOUT_MACHINE:
            with open(os.path.join(ROOT, _WRITTEN_WITHOUT_MACHINE[name])) as f:
                assert name in f.read()
        else:
            assert "machine" in data, f"{os.path.relpath(path, ROOT)} was not written by a script"
