"""Acceptance run: 1M MOSES rows, 1 % corrupted, through ``sortslice transform`` — nothing else may move.

Usage (from the repository root)::

    python perf/corrupted_moses.py                  # 1,000,000 rows, writes perf/results/corrupted_moses.md
    python perf/corrupted_moses.py --rows 20000 --out /tmp/x.md

What it does, in a temporary folder (removed afterwards unless ``--keep``):

1. ``clean.csv``: the first ``--rows`` MOSES training SMILES with an ``id`` column (the row number).
2. ``corrupted.csv``: the same file with a seeded random ``--fraction`` of the rows corrupted the way real
   files are: truncated SMILES, garbage text, invalid valences, unbalanced branches, unclosed rings, empty
   and blank cells, embedded quotes and commas, control characters (newlines and carriage returns too),
   stray unicode, a label in the SMILES column.  Python's ``csv`` writer quotes what needs quoting, so the
   file stays well-formed CSV with exactly one record per row.
3. ``sortslice fit`` (real subprocess) on the first ``--fit-rows`` clean rows: Sort & Slice, ``--length``
   columns, ECFP4.
4. ``sortslice transform MODEL FILE --id-column id -o FILE.parquet`` (real subprocess) on both files.
5. Checks, streaming both Parquet files side by side (bounded memory):

   * same number of rows, and the ``id`` column is 0, 1, 2, ... in both (no row moved);
   * the null fingerprints of the corrupted run are exactly the corrupted rows that RDKit cannot parse
     (``Chem.MolFromSmiles(text) is None``, or a blank cell, which the library calls an empty SMILES),
     each with a non-empty ``error``; corruptions that are still a molecule (a truncated SMILES can be
     one) are counted, not hidden, and their fingerprints must equal the Python API's on the same text;
   * every row that was not corrupted has a byte-identical fingerprint and no error in both runs;
   * the clean run has no null rows.

Prints a summary and writes it (figures and the command) to ``--out``.
"""

from __future__ import annotations

import argparse
import collections
import csv
import gzip
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from _harness import CLI, git_commit, load_average, versions

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
import datasets as data_locator  # noqa: E402  (tests/datasets.py: the one locator of the large data sets)

RESULTS = HERE / "results"

GARBAGE = [
    "N/A",
    "#VALUE!",
    "not determined",
    "?",
    "see notes",
    "ERROR: timeout",
    "TBD",
    "<null>",
    "n.d.",
    "Structure pending",
    "0",
    "-",
    "smiles",
    "NaN",
]
CONTROL = ["\x01", "\x07", "\x1b", "\x7f", "\t", "\n", "\r", "\r\n", "\x0c"]
UNICODE = ["é", "→", "\u200b", "Ｃ", "µ", "\ufeff", "ø"]


# ---------------------------------------------------------------------------------- corruptions
def _outside_brackets(s: str):
    """Indices of characters outside ``[...]`` atoms."""
    depth = 0
    for i, c in enumerate(s):
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        elif depth == 0:
            yield i


def truncated(s, rng):
    return s[: rng.randint(1, max(1, len(s) - 1))]


def garbage(s, rng):
    return rng.choice(GARBAGE)


def invalid_valence(s, rng):
    for i in _outside_brackets(s):
        if s[i] == "C" and s[i + 1 : i + 2] != "l":
            return s[: i + 1] + "(C)(C)(C)(C)" + s[i + 1 :]  # a carbon with five or more bonds
    return "C(C)(C)(C)(C)C" + s


def unbalanced_branch(s, rng):
    closing = [i for i in _outside_brackets(s) if s[i] == ")"]
    if closing:
        i = rng.choice(closing)
        return s[:i] + s[i + 1 :]
    return s[:1] + "(" + s[1:]


def unclosed_ring(s, rng):
    digits = [i for i in _outside_brackets(s) if s[i].isdigit()]
    if digits:
        i = rng.choice(digits)
        return s[:i] + s[i + 1 :]
    return s + "1"


def empty(s, rng):
    return ""


def blank(s, rng):
    return rng.choice([" ", "   ", "\t"])


def quotes_and_commas(s, rng):
    i = rng.randint(0, len(s))
    return s[:i] + rng.choice(['"', '",', ",", '","', "x,y", '""']) + s[i:]


def control_character(s, rng):
    i = rng.randint(0, len(s))
    return s[:i] + rng.choice(CONTROL) + s[i:]


def stray_unicode(s, rng):
    i = rng.randint(0, len(s))
    return s[:i] + rng.choice(UNICODE) + s[i:]


def label_in_smiles(s, rng):
    return rng.choice(["train", "test", "1", "active"])


CORRUPTIONS = [
    truncated,
    garbage,
    invalid_valence,
    unbalanced_branch,
    unclosed_ring,
    empty,
    blank,
    quotes_and_commas,
    control_character,
    stray_unicode,
    label_in_smiles,
]


def expected_invalid(text: str) -> bool:
    """The oracle: RDKit cannot parse it, or the cell is blank (the library's "empty SMILES")."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    return not text.strip() or Chem.MolFromSmiles(text) is None


# ------------------------------------------------------------------------------------- the run
@dataclass
class Report:
    rows: int = 0
    corrupted: int = 0
    by_kind: dict = field(default_factory=dict)  # kind -> [corrupted, stayed valid]
    stayed_valid: int = 0
    expected_nulls: int = 0
    nulls: int = 0
    nulls_are_expected: bool = False
    null_reasons_empty: int = 0
    reasons: dict = field(default_factory=dict)  # reason -> count
    identical_rows: int = 0
    differing_rows: int = 0
    clean_nulls: int = 0
    ids_in_order: bool = False
    stayed_valid_match_api: bool = False
    errors_outside_corruption: int = 0
    seconds: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)
    commands: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            self.nulls_are_expected
            and self.ids_in_order
            and self.differing_rows == 0
            and self.clean_nulls == 0
            and self.null_reasons_empty == 0
            and self.errors_outside_corruption == 0
            and self.stayed_valid_match_api
            and self.identical_rows == self.rows - self.corrupted
            and self.nulls == self.expected_nulls
        )


def moses_rows(n: int, path: Path | None = None) -> list[str]:
    """The first ``n`` SMILES of a MOSES CSV (header ``SMILES``): by default the whole training set, in place."""
    path = data_locator.large_path("moses_train.csv.gz") if path is None else Path(path)
    out = []
    with (gzip.open if path.suffix == ".gz" else open)(path, "rt", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        col = header.index("SMILES")
        for row in reader:
            out.append(row[col])
            if len(out) == n:
                break
    if len(out) < n:
        raise ValueError(f"{path} has only {len(out):,} rows")
    return out


def write_csv(path: Path, smiles: list[str]) -> None:
    """RFC 4180 CSV: CRLF line ends, so a cell holding a CR or LF is quoted (with LF ends, a lone CR is not)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(["id", "SMILES"])
        for i, s in enumerate(smiles):
            w.writerow([i, s])


def corrupt(smiles: list[str], fraction: float, seed: int):
    """The corrupted copy, and ``{row: (kind, text)}`` of the rows changed."""
    rng = random.Random(seed)
    n_bad = round(len(smiles) * fraction)
    rows = sorted(rng.sample(range(len(smiles)), n_bad))
    kinds = [CORRUPTIONS[k % len(CORRUPTIONS)] for k in range(n_bad)]  # every kind, equally often
    rng.shuffle(kinds)
    out = list(smiles)
    changed = {}
    for fn, i in zip(kinds, rows):
        text = fn(smiles[i], rng)
        if text == smiles[i]:  # (cannot happen with these corruptions; a safeguard for the count)
            text = smiles[i] + "("
        out[i] = text
        changed[i] = (fn.__name__, text)
    return out, changed


def cli(args: list, report: Report, what: str) -> subprocess.CompletedProcess:
    shown = "sortslice " + " ".join(str(a) for a in args)
    report.commands.append(shown)
    started = time.perf_counter()
    result = subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True)
    report.seconds[what] = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{shown} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _aligned(a, b):
    """Two batch iterators cut into slices of equal length, in step."""
    x = y = None
    while True:
        if x is None or len(x) == 0:
            x = next(a, None)
        if y is None or len(y) == 0:
            y = next(b, None)
        if x is None or y is None:
            if (x is None) != (y is None):
                raise AssertionError("the two outputs have different numbers of rows")
            return
        n = min(len(x), len(y))
        yield x.slice(0, n), y.slice(0, n)
        x, y = x.slice(n), y.slice(n)


def _matrix(arr, length: int) -> np.ndarray:
    """A FixedSizeList column as an (n, length) array (null rows included, as stored)."""
    values = arr.values.slice(arr.offset * length, len(arr) * length)
    return np.asarray(values.to_numpy(zero_copy_only=False)).reshape(len(arr), length)


def compare(clean: Path, dirty: Path, changed: dict, length: int, report: Report):
    """Stream both outputs; returns the corrupted run's fingerprints of the corruptions that stayed valid."""
    import pyarrow.parquet as pq

    a, b = pq.ParquetFile(clean), pq.ParquetFile(dirty)
    report.rows = a.metadata.num_rows
    if b.metadata.num_rows != a.metadata.num_rows:
        raise AssertionError(f"{a.metadata.num_rows:,} clean rows, {b.metadata.num_rows:,} corrupted rows")
    cols = ["id", "fingerprint", "error"]
    bad = np.zeros(report.rows, dtype=bool)
    bad[list(changed)] = True
    expected = np.zeros(report.rows, dtype=bool)
    for i, (_, text) in changed.items():
        expected[i] = expected_invalid(text)
    report.expected_nulls = int(expected.sum())
    null_rows, reasons, still_valid = [], collections.Counter(), {}
    ids_ok, start = True, 0
    for x, y in _aligned(a.iter_batches(65536, columns=cols), b.iter_batches(65536, columns=cols)):
        n = len(x)
        want = np.arange(start, start + n).astype(str)
        ids_ok &= bool(
            np.array_equal(np.asarray(x.column(0).to_pylist()), want)
            and np.array_equal(np.asarray(y.column(0).to_pylist()), want)
        )
        fx, fy = x.column(1), y.column(1)
        report.clean_nulls += fx.null_count
        valid_y = np.asarray(fy.is_valid().to_numpy(zero_copy_only=False))
        null_rows += (np.flatnonzero(~valid_y) + start).tolist()
        errors_y = y.column(2).to_pylist()
        errors_x = x.column(2).to_pylist()
        here = bad[start : start + n]
        for j in np.flatnonzero(~valid_y):
            reason = errors_y[j]
            if not reason:
                report.null_reasons_empty += 1
            else:
                reasons[re.sub(r"\d+", "N", reason)[:100]] += 1  # atom numbers and valences vary
        report.errors_outside_corruption += sum(
            1 for j in np.flatnonzero(~here) if errors_y[j] is not None or errors_x[j] is not None
        )
        mx, my = _matrix(fx, length), _matrix(fy, length)
        same = (mx == my).all(axis=1) & np.asarray(fx.is_valid().to_numpy(zero_copy_only=False)) & valid_y
        report.identical_rows += int(same[~here].sum())
        report.differing_rows += int((~same[~here]).sum())
        for j in np.flatnonzero(here & valid_y):
            still_valid[start + int(j)] = my[j].copy()
        start += n
    report.ids_in_order = ids_ok and start == report.rows
    report.nulls = len(null_rows)
    report.nulls_are_expected = null_rows == np.flatnonzero(expected).tolist()
    report.reasons = dict(reasons.most_common())
    return still_valid


def run(
    rows: int = 1_000_000,
    fraction: float = 0.01,
    seed: int = 0,
    length: int = 1024,
    fit_rows: int = 100_000,
    workdir: Path | None = None,
    jobs: int | None = None,
    chunk_size: int | None = None,
    source: Path | None = None,
) -> Report:
    report = Report()
    own = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="corrupted-moses-")) if own else Path(workdir)
    try:
        t = time.perf_counter()
        smiles = moses_rows(rows, source)
        dirty, changed = corrupt(smiles, fraction, seed)
        clean_csv, dirty_csv, fit_csv = workdir / "clean.csv", workdir / "corrupted.csv", workdir / "fit.csv"
        write_csv(clean_csv, smiles)
        write_csv(dirty_csv, dirty)
        write_csv(fit_csv, smiles[:fit_rows])
        report.seconds["build files"] = time.perf_counter() - t
        report.corrupted = len(changed)
        kinds = collections.defaultdict(lambda: [0, 0])
        for kind, text in changed.values():
            kinds[kind][0] += 1
            kinds[kind][1] += not expected_invalid(text)
        report.by_kind = dict(kinds)
        report.stayed_valid = sum(v[1] for v in kinds.values())
        model = workdir / "model.json"
        run_opts = (["-j", str(jobs)] if jobs else []) + (["--chunk-size", str(chunk_size)] if chunk_size else [])
        cli(["fit", fit_csv, "-o", model, "--length", length, "--no-progress"] + run_opts, report, "fit")
        outputs = {}
        for what, src in (("transform clean", clean_csv), ("transform corrupted", dirty_csv)):
            out = src.with_suffix(".parquet")
            cli(["transform", model, src, "--id-column", "id", "-o", out, "--no-progress"] + run_opts, report, what)
            outputs[what] = out
        report.sizes = {p.name: p.stat().st_size for p in (clean_csv, dirty_csv, *outputs.values())}
        t = time.perf_counter()
        still_valid = compare(outputs["transform clean"], outputs["transform corrupted"], changed, length, report)
        if still_valid:
            import sortslice

            rows_valid = sorted(still_valid)
            api = sortslice.load(model).transform([dirty[i] for i in rows_valid])
            report.stayed_valid_match_api = bool(np.array_equal(api, np.stack([still_valid[i] for i in rows_valid])))
        else:
            report.stayed_valid_match_api = True
        report.stayed_valid_match_api &= len(still_valid) == report.stayed_valid
        report.seconds["checks"] = time.perf_counter() - t
        return report
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------- reporting
def summary(report: Report, args_line: str, wall: float) -> str:
    r = report
    lines = [
        "# 1M MOSES rows with 1 % corrupted: `sortslice transform` moves nothing else",
        "",
        f"Command: `{args_line}`  ",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; whole script {wall:.0f} s  ",
        f"Machine: {platform.processor() or platform.machine()} x {os.cpu_count()} cores, shared with other work; "
        f"load average after: {load_average()}  ",
        f"{versions('RDKit', 'sortslice')} at {git_commit(unknown='?')}",
        "",
        "CLI commands (real subprocesses, in a temporary folder):",
        "",
        *[f"    {c}" for c in r.commands],
        "",
        "## Result: " + ("PASS" if r.passed else "FAIL"),
        "",
        "| Check | Figure |",
        "|---|---:|",
        f"| rows in each output (input rows) | {r.rows:,} |",
        f"| rows corrupted | {r.corrupted:,} |",
        f"| corruptions RDKit still parses (stayed valid molecules) | {r.stayed_valid:,} |",
        f"| expected null rows (corrupted and unparsable or blank) | {r.expected_nulls:,} |",
        f"| null fingerprints in the corrupted run | {r.nulls:,} |",
        f"| null rows are exactly the expected rows | {'yes' if r.nulls_are_expected else 'NO'} |",
        f"| null rows without a reason in `error` | {r.null_reasons_empty:,} |",
        f"| stayed-valid corruptions equal to the Python API on the same text | "
        f"{'yes' if r.stayed_valid_match_api else 'NO'} |",
        f"| uncorrupted rows byte-identical to the clean run | {r.identical_rows:,} of {r.rows - r.corrupted:,} |",
        f"| uncorrupted rows that differ | {r.differing_rows:,} |",
        f"| uncorrupted rows with an `error` in either run | {r.errors_outside_corruption:,} |",
        f"| null rows in the clean run | {r.clean_nulls:,} |",
        f"| `id` column 0, 1, 2, ... in both outputs (no row moved) | {'yes' if r.ids_in_order else 'NO'} |",
        "",
        "## Corruptions",
        "",
        "| Kind | Rows | Still a molecule |",
        "|---|---:|---:|",
        *[f"| {k.replace('_', ' ')} | {v[0]:,} | {v[1]:,} |" for k, v in sorted(r.by_kind.items())],
        "",
        "Still a molecule: RDKit parses the corrupted text (e.g. a truncated SMILES that is a smaller molecule, "
        "or a control character or tab RDKit reads as the end of the SMILES); such rows keep a fingerprint, of "
        "the text as it now is.",
        "",
        "## Reasons in the `error` column (null rows)",
        "",
        "| Reason | Rows |",
        "|---|---:|",
        *[f"| {k.replace('|', '/')} | {v:,} |" for k, v in r.reasons.items()],
        "",
        "## Times (wall, this shared machine)",
        "",
        "| Step | Seconds |",
        "|---|---:|",
        *[f"| {k} | {v:.1f} |" for k, v in r.seconds.items()],
        "",
        "Files: " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in r.sizes.items()),
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fraction", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--fit-rows", type=int, default=100_000)
    parser.add_argument("--jobs", "-j", type=int, default=None)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--keep", metavar="DIR", default=None, help="Work in DIR and keep the files.")
    parser.add_argument("--out", default=str(RESULTS / "corrupted_moses.md"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    workdir = None
    if args.keep:
        workdir = Path(args.keep)
        workdir.mkdir(parents=True, exist_ok=True)
    report = run(args.rows, args.fraction, args.seed, args.length, args.fit_rows, workdir, args.jobs, args.chunk_size)
    args_line = "python perf/corrupted_moses.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    text = summary(report, args_line, time.perf_counter() - started)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
