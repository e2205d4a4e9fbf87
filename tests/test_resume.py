"""Folders of parts on one machine: ``sortslice transform MODEL IN -o DIR/`` and ``--resume``.

The oracle is always the uninterrupted run: a folder that was killed (SIGKILL, in a real
process, at a measured point — once some parts exist and others do not), damaged by hand
and resumed must hold the same files, byte for byte, as a run that was never stopped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pyarrow.parquet as pq
import pytest

import sortslice
from sortslice.io.parts import PART_KEY, is_part

import datasets
from helpers import CLI, run_cli

FILES = 10
ROWS = 400  # per input file: the head of the in-repository MOSES sample in ten files


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    smiles = datasets.sample("moses", FILES * ROWS)
    assert len(smiles) == FILES * ROWS
    (folder / "in").mkdir()
    for k in range(FILES):
        rows = [f"M{ROWS * k + j},{s}" for j, s in enumerate(smiles[ROWS * k : ROWS * (k + 1)])]
        if k == 4:
            rows[10] = f"M{ROWS * 4 + 10},not_a_smiles"  # one invalid row: its reason is in the part's record
        (folder / "in" / f"moses-{k:02d}.csv").write_text("id,SMILES\n" + "\n".join(rows) + "\n")
    big = folder / "big.csv"
    big.write_text("id,SMILES\n" + "\n".join(f"B{j},{s}" for j, s in enumerate(smiles[:2000])) + "\nB2000,C1CC\n")
    model = folder / "model.json"
    sortslice.SortSlice(length=256).fit(smiles[:2000]).save(model)
    other = folder / "other.json"
    sortslice.SortSlice(length=256, radius=1).fit(smiles[:2000]).save(other)
    # the uninterrupted run, one part per file (in this process)
    ref = folder / "ref"
    r = run_cli("transform", model, folder / "in" / "*.csv", "-o", ref, "--id-column", "id", "-j", 1)
    assert r.exit_code == 0, r.output
    return {
        "folder": folder,
        "glob": str(folder / "in" / "*.csv"),
        "big": big,
        "model": model,
        "other": other,
        "ref": ref,
        "names": [f"part-{k:05d}.parquet" for k in range(FILES)],
    }


def parts(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if is_part(n))


def assert_same_folder(got, want) -> None:
    assert sorted(os.listdir(got)) == sorted(os.listdir(want))  # no temporary file left, nothing extra
    for name in os.listdir(want):
        assert (got / name).read_bytes() == (want / name).read_bytes(), name


def record(path) -> dict:
    return json.loads(pq.read_metadata(path).metadata[PART_KEY.encode()])


def flip_a_byte(path, at: int | None = None) -> None:
    """Flip the byte at offset ``at`` (default: the middle of the file)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_uninterrupted_folder_has_one_part_per_file_with_its_record(corpus):
    ref, names = corpus["ref"], corpus["names"]
    assert sorted(os.listdir(ref)) == names
    table = pq.read_table(ref)  # reading the folder gives the input's rows in order
    assert table.column("id").to_pylist() == [f"M{i}" for i in range(FILES * ROWS)]
    whole = corpus["folder"] / "whole.parquet"
    rows = ["id,SMILES"] + [
        line
        for k in range(FILES)
        for line in (corpus["folder"] / "in" / f"moses-{k:02d}.csv").read_text().splitlines()[1:]
    ]
    (corpus["folder"] / "whole.csv").write_text("\n".join(rows) + "\n")
    assert (
        run_cli(
            "transform", corpus["model"], corpus["folder"] / "whole.csv", "-o", whole, "--id-column", "id", "-j", 1
        ).exit_code
        == 0
    )
    assert table.equals(pq.read_table(whole))  # the same rows, columns and metadata as one file
    rec = record(ref / names[4])
    src = corpus["folder"] / "in" / "moses-04.csv"
    assert rec == {
        "input": {"path": str(src), "bytes": src.stat().st_size, "mtime_ns": src.stat().st_mtime_ns},
        "first_row": 0,
        "rows": ROWS,
        "written": ROWS,
        "invalid": 1,
        "first_problem": f"{src}: row 11 (M{ROWS * 4 + 10}): invalid SMILES: syntax error",
        "errors": "null",
    }


def test_killed_cli_resumes_to_the_bytes_of_an_uninterrupted_run(corpus, tmp_path):
    out, names = tmp_path / "fps", corpus["names"]
    args = [
        "transform",
        corpus["model"],
        corpus["glob"],
        "-o",
        out,
        "--id-column",
        "id",
        "-j",
        "1",
        "--chunk-size",
        "100",
    ]
    proc = subprocess.Popen(
        CLI + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (out.is_dir() and len(parts(out)) >= 5):  # the measured point: five parts complete
            assert proc.poll() is None, "the command ended before it was killed"
            assert time.monotonic() < deadline, "no five parts after 120 s"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        status = proc.wait(timeout=60)
    assert status == -signal.SIGKILL
    done = parts(out)
    assert 5 <= len(done) < FILES, done  # killed half-way
    for name in done:  # what is there under a part's name is complete
        assert (out / name).read_bytes() == (corpus["ref"] / name).read_bytes()

    # damaged by hand: truncated, one byte flipped inside the data, and a part of another input in its place
    (out / names[0]).write_bytes((out / names[0]).read_bytes()[:5000])
    flip_a_byte(out / names[1])
    shutil.copyfile(corpus["ref"] / names[3], out / names[2])
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}

    # without --resume the folder is not touched
    r = run_cli(*args)
    assert r.exit_code == 1 and r.output == (
        f"Error: {out} already holds {len(before):,} files ("
        f"{', '.join(sorted(before)[:3])}, ...): choose an empty folder, or use "
        f"--resume to complete an interrupted run into it\n"
    )
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before

    result = subprocess.run(CLI + [str(a) for a in args] + ["--resume", "--progress"], capture_output=True, timeout=300)
    err = result.stderr.decode()
    assert result.returncode == 0, err
    kept = len(done) - 3
    notes = [line for line in err.splitlines() if line.startswith("Note: ")]
    assert [n.split(" is written again: ")[0] for n in notes] == [f"Note: {n}" for n in names[:3]], notes
    assert "it is not a readable Parquet file" in notes[0]
    assert "its data are damaged" in notes[1]
    assert f"it was made from {corpus['folder'] / 'in' / 'moses-03.csv'}, not" in notes[2]
    # the bar starts from the parts already complete
    bars = re.findall(rf"(\d+)/{FILES} \[", err)
    assert bars and int(bars[0]) == kept and int(bars[-1]) == FILES, err
    assert f"{kept:,} of the {FILES} parts were already complete and were kept" in err
    assert f"Warning: 1 of {FILES * ROWS:,} molecules are invalid" in err  # tallies include the kept parts' records
    assert_same_folder(out, corpus["ref"])


def _middle_of(path, key: bytes) -> int:
    """The offset of the middle of a footer value (``key`` of the key-value metadata) in the file."""
    data, value = path.read_bytes(), pq.read_metadata(path).metadata[key]
    start = data.rfind(value)
    assert start > 0 and data.count(value) == 1
    return start + len(value) // 2


def test_a_flipped_byte_anywhere_in_a_part_is_found(corpus, tmp_path):
    """A data page, the part record, the footer's key-value copy of the model and Arrow's own copy of the
    schema: one flipped byte in any of them and --resume writes that part again."""
    out = tmp_path / "fps"
    shutil.copytree(corpus["ref"], out)
    names = corpus["names"]
    chunk = pq.read_metadata(out / names[0]).row_group(0).column(1)  # the fingerprint column
    assert chunk.path_in_schema.startswith("fingerprint")
    where = {
        names[0]: chunk.data_page_offset + chunk.total_compressed_size // 2,
        names[1]: _middle_of(out / names[1], PART_KEY.encode()),
        names[2]: _middle_of(out / names[2], b"sortslice.pooling"),
        names[3]: _middle_of(out / names[3], b"ARROW:schema"),
    }
    for name, offset in where.items():
        flip_a_byte(out / name, offset)
    r = run_cli("transform", corpus["model"], corpus["glob"], "-o", out, "--id-column", "id", "-j", 1, "--resume")
    assert r.exit_code == 0, r.output
    again = sorted(line.split(" is written again: ")[0] for line in r.output.splitlines() if "written again" in line)
    assert again == [f"Note: {n}" for n in sorted(where)], r.output
    assert f"{FILES - 4} of the {FILES} parts were already complete and were kept" in r.output
    assert_same_folder(out, corpus["ref"])


def test_interrupted_cli_keeps_complete_parts_and_says_how_to_resume(corpus, tmp_path):
    out = tmp_path / "fps"
    args = ["transform", corpus["model"], corpus["glob"], "-o", out, "-j", "1", "--chunk-size", "100"]
    proc = subprocess.Popen(
        CLI + [str(a) for a in args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not (out.is_dir() and len(parts(out)) >= 2):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGTERM)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM, err
    n = len(parts(out))
    assert sorted(os.listdir(out)) == parts(out), err  # the part being written was removed (it was not complete)
    assert err.splitlines()[-1] == (
        f"Error: interrupted by SIGTERM (incomplete outputs are not written; {n} "
        f"complete parts are kept in {out}: the same command with --resume finishes "
        f"the run)"
    )
    assert run_cli(*args, "--resume").exit_code == 0
    assert parts(out) == corpus["names"]
    for p in parts(out):
        assert (
            pq.read_table(out / p).column("fingerprint").equals(pq.read_table(corpus["ref"] / p).column("fingerprint"))
        )


def test_part_rows_blocks_of_one_file_and_their_resume(corpus, tmp_path):
    big, model = corpus["big"], corpus["model"]
    ref = tmp_path / "ref"
    args = ["transform", model, big, "--id-column", "id", "-j", 1, "--chunk-size", 150, "--errors", "skip"]
    r = run_cli(*args, "-o", ref, "--part-rows", 350)
    assert r.exit_code == 0, r.output
    names = [f"part-{k:05d}.parquet" for k in range(6)]  # 2,001 rows in blocks of 350
    assert sorted(os.listdir(ref)) == names
    assert [record(ref / n)["first_row"] for n in names] == [0, 350, 700, 1050, 1400, 1750]
    assert [record(ref / n)["rows"] for n in names] == [350] * 5 + [251]
    assert record(ref / names[-1])["written"] == 250 and "row 2001 (B2000)" in r.output
    # the blocks joined are the single-file output (rows, columns; the metadata but for the part records)
    single = tmp_path / "single.parquet"
    assert run_cli(*args, "-o", single).exit_code == 0
    assert pq.read_table(ref).equals(pq.read_table(single))

    out = tmp_path / "fps"
    shutil.copytree(ref, out)
    for n in names[3:]:
        (out / n).unlink()
    (out / names[1]).write_bytes((ref / names[1]).read_bytes()[:-100])
    (out / f".{names[3]}.x1y2z3.part").write_bytes(b"half a part")  # a killed writer's temporary file
    r = run_cli(*args, "-o", out, "--part-rows", 350, "--resume")
    assert r.exit_code == 0, r.output
    assert [line.split(":")[1].strip() for line in r.output.splitlines() if line.startswith("Note:")] == [
        f"{names[1]} is written again"
    ]
    assert "2 of the 6 parts were already complete and were kept" in r.output
    assert_same_folder(out, ref)

    # other blocks, another model, other columns: nothing is trusted
    r = run_cli(*args, "-o", out, "--part-rows", 300, "--resume")
    assert r.exit_code == 0, r.output
    notes = [line for line in r.output.splitlines() if line.startswith("Note:")]
    assert notes[0] == f"Note: {names[0]} is written again: it covers 350 input rows; the input has 300 there"
    assert notes[1] == f"Note: {names[1]} is written again: it covers the rows from 351, not from 301"
    assert len(notes) == 6 and sorted(os.listdir(out)) == names + ["part-00006.parquet"]
    r = run_cli(
        "transform",
        corpus["other"],
        big,
        "--id-column",
        "id",
        "-j",
        1,
        "--errors",
        "skip",
        "-o",
        out,
        "--part-rows",
        300,
        "--resume",
    )
    assert r.exit_code == 0 and r.output.count("is written again: made with another ECFP parameters") == 7, r.output
    r = run_cli(
        "transform", corpus["other"], big, "--id-column", "id", "-j", 1, "-o", out, "--part-rows", 300, "--resume"
    )
    assert (
        r.exit_code == 0
        and r.output.count("is written again: its columns are id, fingerprint, this run writes id, fingerprint, error")
        == 7
    ), r.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["transform", "M", "GLOB", "-o", "OUT/x.csv"], "-o names a folder of Parquet files here, not a .csv file"),
        (
            ["transform", "M", "GLOB", "-o", "-"],
            "the output is a folder of Parquet files (one part per input partition)",
        ),
        (["transform", "M", "GLOB", "-o", "OUT/fps", "--format", "npy"], "a folder of parts is Parquet"),
        (
            ["transform", "M", "GLOB", "-o", "OUT/fps", "--part-rows", "10"],
            "--part-rows cuts one input file into parts",
        ),
        (["transform", "M", "-", "-o", "OUT/fps/"], "a folder of parts is made from files"),
        (
            ["transform", "M", "GLOB", "-o", "OUT/afile", "--resume"],
            "cannot write OUT/afile: it is a file, not a directory",
        ),
        (["transform", "M", "GLOB", "-o", "OUT/mixed", "--resume"], "OUT/mixed holds 'notes.txt', which is not a part"),
        (["transform", "M", "OUT/none-*.csv", "-o", "OUT/fps/"], "OUT/none-*.csv: no files match"),
        (
            ["transform", "M", "GLOB", "-o", "OUT/fps", "--part-rows", "10", "--scheduler", "tcp://nowhere:1"],
            "--part-rows does not apply on a Dask cluster",
        ),
    ],
)
def test_folder_usage_errors_are_one_line(corpus, tmp_path, args, message):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "notes.txt").write_text("mine")
    shutil.copyfile(corpus["ref"] / "part-00000.parquet", tmp_path / "mixed" / "part-00000.parquet")
    names = {"M": str(corpus["model"]), "GLOB": corpus["glob"]}
    r = run_cli(*[names.get(a, a.replace("OUT", str(tmp_path))) for a in args])
    assert r.exit_code == 1, r.output
    assert r.output.startswith(f"Error: {message.replace('OUT', str(tmp_path))}"), r.output
    assert len(r.output.splitlines()) == 1 and "Traceback" not in r.output
    assert not (tmp_path / "fps").exists() or os.listdir(tmp_path / "fps") == []
    assert sorted(os.listdir(tmp_path / "mixed")) == ["notes.txt", "part-00000.parquet"]
