"""The corrupted-MOSES acceptance check (``perf/corrupted_moses.py``) at test size, and whole under ``-m full``.

MOSES rows, 1 % of them corrupted (truncated SMILES, garbage, invalid valences, unbalanced branches and
rings, empty and blank cells, quotes, commas, control characters, unicode, labels), go through
``sortslice fit`` and ``sortslice transform`` in real processes.  The corrupted run must have null
fingerprints (with reasons) on exactly the corrupted rows RDKit cannot parse, and every other row
byte-identical to the clean run; corruptions RDKit still reads as a molecule get the API's fingerprint.
"""

from __future__ import annotations

import sys

import pytest

import datasets


@pytest.fixture(scope="module")
def script():
    module = datasets.perf_script("corrupted_moses")
    return module


def check(report, rows: int, fraction: float = 0.01) -> None:
    r = report
    assert r.rows == rows and r.corrupted == round(rows * fraction)
    assert set(r.by_kind) == {fn.__name__ for fn in sys.modules["corrupted_moses"].CORRUPTIONS}
    assert sum(v[0] for v in r.by_kind.values()) == r.corrupted
    assert r.expected_nulls == r.corrupted - r.stayed_valid and r.expected_nulls > 0.9 * r.corrupted
    assert r.nulls == r.expected_nulls and r.nulls_are_expected
    assert r.null_reasons_empty == 0 and sum(r.reasons.values()) == r.nulls
    assert r.stayed_valid_match_api
    assert r.identical_rows == rows - r.corrupted and r.differing_rows == 0
    assert r.errors_outside_corruption == 0 and r.clean_nulls == 0 and r.ids_in_order
    assert r.passed


SAMPLE = datasets.FIXTURES / datasets.SAMPLES["moses"]  # the in-repository sample of MOSES test


@pytest.mark.parametrize(
    "rows, fraction, source",
    [
        (2_000, 0.05, SAMPLE),
        pytest.param(10_000, 0.01, SAMPLE, marks=pytest.mark.slow),
        pytest.param(20_000, 0.01, None, marks=pytest.mark.data),  # the head of MOSES train, in place
    ],
)
def test_corrupted_rows_and_only_those_are_null(script, tmp_path, rows, fraction, source):
    report = script.run(
        rows=rows,
        fraction=fraction,
        seed=1,
        length=256,
        fit_rows=1_000,
        workdir=tmp_path,
        jobs=1,
        chunk_size=700,
        source=source,
    )
    check(report, rows, fraction)
    # the corruptions kept the CSV well-formed: Python's csv module reads one record per row
    import csv

    with open(tmp_path / "corrupted.csv", newline="") as fh:
        assert sum(1 for _ in csv.reader(fh)) == rows + 1


@pytest.mark.full
@pytest.mark.data
def test_a_million_rows(script, tmp_path):
    check(script.run(rows=1_000_000, workdir=tmp_path), 1_000_000)
