"""Arrow arrays built from buffers (``sortslice._arrow``) equal ``pa.array``'s, and the commands never import pandas.

``pa.array`` imports pandas on its first call (~0.6 s); the command line and the Polars functions build their
arrays with these helpers instead.  The oracle is ``pa.array`` itself.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from sortslice._arrow import fixed_width_text, from_numpy, strings

rng = np.random.default_rng(5)
NUMERIC = {
    "uint8": rng.integers(0, 255, 37).astype(np.uint8),
    "uint16": rng.integers(0, 60000, 9).astype(np.uint16),
    "uint32 ids": rng.integers(0, 2**32 - 1, 100, dtype=np.uint32),
    "int32 offsets": np.arange(0, 40, 4, dtype=np.int32),
    "int64": np.array([-(2**62), 0, 2**62], dtype=np.int64),
    "float32": rng.normal(size=11).astype(np.float32),
    "float64": rng.normal(size=5),
    "bool": rng.random(70) < 0.3,
    "bool, 8 exactly": np.array([True, False] * 4),
    "empty": np.zeros(0, dtype=np.uint32),
    "a strided view": np.arange(30, dtype=np.uint16)[::3],
    "a slice at an offset": np.arange(30, dtype=np.int64)[7:19],
}


@pytest.mark.parametrize("values", list(NUMERIC.values()), ids=list(NUMERIC))
@pytest.mark.parametrize("nulls", ["none", "some", "all"])
def test_from_numpy_equals_pa_array(values, nulls):
    n = len(values)
    valid = {"none": None, "some": np.arange(n) % 3 != 1, "all": np.zeros(n, dtype=bool)}[nulls]
    got = from_numpy(values, valid)
    expected = pa.array(values, mask=None if valid is None else ~valid)
    got.validate(full=True)
    assert got.type == expected.type and got.null_count == expected.null_count
    assert got.equals(expected)
    assert got.to_pylist() == expected.to_pylist()


def test_from_numpy_shares_the_buffer_and_refuses_what_it_cannot_hold():
    x = np.arange(10, dtype=np.uint32)
    arr = from_numpy(x)
    assert arr.buffers()[1].address == x.ctypes.data
    with pytest.raises(ValueError, match="1-D"):
        from_numpy(np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(TypeError):
        from_numpy(np.array(["a"], dtype=object))
    with pytest.raises(TypeError):
        from_numpy(np.arange(3, dtype=">u4"))
    with pytest.raises(ValueError, match="shape"):
        from_numpy(x, np.ones(3, dtype=bool))


TEXTS = {
    "plain": ["CCO", "c1ccccc1", "x"],
    "with nulls": [None, "a", None, "", "b"],
    "all null": [None, None],
    "empty": [],
    "unicode": ["é", "分子", "🧪", "a\x00b", "tab\there"],
    "long": ["C" * 5000, "N"],
}


@pytest.mark.parametrize("values", list(TEXTS.values()), ids=list(TEXTS))
def test_strings_equal_pa_array(values):
    got = strings(values)
    got.validate(full=True)
    assert got.equals(pa.array(values, type=pa.string()))


def test_strings_refuse_a_lone_surrogate_as_pa_array_does():
    with pytest.raises(UnicodeEncodeError):
        pa.array(["\ud800"], type=pa.string())
    with pytest.raises(UnicodeEncodeError):
        strings(["ok", "\ud800"])


@pytest.mark.parametrize("valid", [None, np.array([True, False, True])])
def test_fixed_width_text_equals_pa_array(valid):
    text = np.array([b"0110", b"1111", b"0000"], dtype="S4")
    got = fixed_width_text(text, valid)
    got.validate(full=True)
    mask = None if valid is None else ~valid
    assert got.equals(pa.array(text, type=pa.binary(), mask=mask).cast(pa.string()))


IMPORTS = """
import sys
from click.testing import CliRunner
from sortslice.cli import main

folder = sys.argv[1]
run = CliRunner()
for args in (
    ["fit", f"{folder}/in.csv", "-o", f"{folder}/m.json", "--length", "32"],
    ["transform", f"{folder}/m.json", f"{folder}/in.csv", "-o", f"{folder}/fp.parquet", "--id-column", "id"],
    ["transform", f"{folder}/m.json", f"{folder}/in.csv", "-o", f"{folder}/fp.csv"],
    ["fold", f"{folder}/in.csv", "-o", f"{folder}/counts.csv", "--counts", "--length", "64"],
    ["ids", f"{folder}/in.smi", "-o", f"{folder}/ids.parquet", "--keep", "name"],
    ["fold", f"{folder}/in.csv", "-o", f"{folder}/X.npz", "--length", "64"],
    ["transform", f"{folder}/m.json", f"{folder}/in.csv", "-o", f"{folder}/fp.tsv", "--errors", "skip"],
):
    result = run.invoke(main, args)
    assert result.exit_code == 0, (args, result.output)
import polars as pl
import sortslice.polars as ssp
pl.DataFrame({"s": ["CCO", "bad", None]}).select(ssp.ids("s").alias("i"), ssp.fold("s", 16).alias("f"))
print("pandas imported:", "pandas" in sys.modules)
"""


def test_commands_and_polars_functions_do_not_import_pandas(tmp_path):
    (tmp_path / "in.csv").write_text("id,smiles\nm1,CCO\nm2,not a smiles\nm3,c1ccccc1O\n")
    (tmp_path / "in.smi").write_text("CCO ethanol\nC1CC broken\nc1ccccc1 benzene\n")
    out = subprocess.run([sys.executable, "-c", IMPORTS, str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "pandas imported: False"
