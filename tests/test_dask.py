"""sortslice.dask on a real LocalCluster of two worker processes: identical to the single-machine path.

The cluster is started once for the module.  Every comparison is exact: the
fitted state (every id's prevalence), the vocabulary, the example environments
and the fingerprint bytes, against ``SortSlice.fit_transform`` on all molecules
at once.  A worker process is killed in the middle of a task (by the partition
it is reading) and the job must come out the same.  A worker is also SIGKILLed
from outside, by the scheduler, the moment it has finished its second partition
of a fit or a transform (its results in memory are lost, tasks are still to
run): the model equals the single-machine fit and every part file equals, byte
for byte, what the one-machine ``sortslice transform IN -o DIR/`` writes.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import subprocess
import sys

# Dask is in the test extra: a missing install fails here loudly instead of skipping
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

import sortslice
from sortslice.dask import InputError, fit_partitioned, list_input_files, transform_partitioned
from sortslice.engine.persist import to_document

import datasets
from helpers import run_cli

MOSES_ROWS = 2_000  # of the in-repository sample
LENGTH = 1024


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    )
    c = Client(cluster)
    # load RDKit and the cached kernels in both workers before anything is timed or killed
    c.run(lambda: sortslice.SortSlice(length=4).fit_transform(["CCO", "c1ccccc1"]) is not None)
    yield c
    c.close()
    cluster.close()


def _fingerprints(paths) -> np.ndarray:
    table = pq.read_table(paths)
    col = table.column("fingerprint").combine_chunks()
    return np.asarray(col.flatten()).reshape(len(table), -1)


def _assert_same_fit(got, ref):
    assert got.get_params() == ref.get_params()
    np.testing.assert_array_equal(got.state_ids_, ref.state_ids_)
    np.testing.assert_array_equal(got.state_prevalence_, ref.state_prevalence_)
    assert got.state_prevalence_.dtype == ref.state_prevalence_.dtype == np.int64
    np.testing.assert_array_equal(got.vocabulary_, ref.vocabulary_)
    np.testing.assert_array_equal(got.prevalence_, ref.prevalence_)
    assert (got.n_molecules_, got.n_invalid_) == (ref.n_molecules_, ref.n_invalid_)
    assert got._examples == ref._examples
    a, b = to_document(got), to_document(ref)
    a.pop("created"), b.pop("created")
    assert a == b


# ---------------------------------------------------------------- MOSES, partitioned
@pytest.fixture(scope="module")
def moses(tmp_path_factory):
    """The head of the in-repository MOSES sample as four Parquet files (ids), and the single-machine fit."""
    smiles = datasets.sample("moses", MOSES_ROWS)
    folder = tmp_path_factory.mktemp("moses")
    bounds = [0, 300, 1000, 1400, MOSES_ROWS]  # unequal partitions
    for k in range(4):
        part = smiles[bounds[k] : bounds[k + 1]]
        ids = [f"M{bounds[k] + j}" for j in range(len(part))]
        pq.write_table(pa.table({"id": ids, "SMILES": part}), folder / f"moses-{k}.parquet")
    ref = sortslice.SortSlice(length=LENGTH)
    X = ref.fit_transform(smiles)
    return folder, smiles, ref, X


def test_moses_partitions_fit_and_transform_identical(client, moses, tmp_path):
    folder, smiles, ref, X = moses
    model = fit_partitioned(sortslice.SortSlice(length=LENGTH), folder, client=client, chunk_size=1000, split_every=2)
    _assert_same_fit(model, ref)
    out = transform_partitioned(
        model, str(folder / "*.parquet"), tmp_path / "fps", client=client, id_column="id", chunk_size=1000
    )
    assert [os.path.basename(p) for p in out.paths] == [f"part-0000{k}.parquet" for k in range(4)]
    assert (out.rows, out.written, out.invalid) == (MOSES_ROWS, MOSES_ROWS, 0)
    got = _fingerprints(out.paths)
    assert got.dtype == X.dtype and got.shape == X.shape
    assert got.tobytes() == np.ascontiguousarray(X).tobytes()
    # one output file per input file, rows in order, ids carried first
    for k, p in enumerate(out.paths):
        src = pq.read_table(folder / f"moses-{k}.parquet")
        assert pq.read_table(p).column("id").to_pylist() == src.column("id").to_pylist()
    assert sorted(os.listdir(tmp_path / "fps")) == [f"part-0000{k}.parquet" for k in range(4)]


def test_output_has_the_cli_columns_and_metadata(client, moses, tmp_path):
    """The same schema and key-value metadata as ``sortslice transform`` writes."""
    _, smiles, ref, _ = moses
    src = tmp_path / "few.csv"
    rows = ["id,smiles"] + [f"X{i},{s}" for i, s in enumerate(smiles[:40])] + ["X40,not_a_smiles"]
    src.write_text("\n".join(rows) + "\n")
    model_path = tmp_path / "model.json"
    ref.save(model_path)
    model = sortslice.load(model_path)
    cli_out = tmp_path / "cli.parquet"
    result = run_cli("transform", model_path, src, "--id-column", "id", "-o", cli_out)
    assert result.exit_code == 0, result.output
    out = transform_partitioned(model, src, tmp_path / "dask", client=client, id_column="id")
    theirs, ours = pq.read_table(cli_out), pq.read_table(out.paths)
    assert ours.schema.equals(theirs.schema, check_metadata=True)
    assert ours.equals(theirs)
    assert out.invalid == 1 and out.first_problem.startswith(f"{src}: row 41 (X40): ")


# ------------------------------------------------------------------ the paper's data
def test_paper_set_as_dask_dataframe(client, tmp_path):
    smiles = datasets.paper_smiles("mpro")
    ref = sortslice.SortSlice(length=2048, radius=2)
    X = ref.fit_transform(smiles)
    frame = dd.from_pandas(pd.DataFrame({"smiles": smiles, "row": np.arange(len(smiles))}), npartitions=3)
    model = fit_partitioned(sortslice.SortSlice(length=2048), frame, client=client)
    _assert_same_fit(model, ref)
    out = transform_partitioned(model, frame, tmp_path / "frame", client=client, keep=["row"])
    assert len(out.paths) == frame.npartitions
    table = pq.read_table(out.paths)
    assert table.column("row").to_pylist() == list(range(len(smiles)))
    assert _fingerprints(out.paths).tobytes() == X.tobytes()


def test_paper_set_as_dask_bag(client, tmp_path):
    smiles = datasets.paper_smiles("lit_pcba_esr_ant")
    ref = sortslice.SortSlice(length=512, radius=3, counts=True, tie_break="smaller_id_first")
    X = ref.fit_transform(smiles)
    bag = db.from_sequence(smiles, npartitions=4)
    model = fit_partitioned(
        sortslice.SortSlice(length=512, radius=3, counts=True, tie_break="smaller_id_first"),
        bag,
        client=client,
        split_every=3,
    )
    _assert_same_fit(model, ref)
    out = transform_partitioned(model, bag, tmp_path / "bag", client=client)
    assert len(out.paths) == bag.npartitions
    got = _fingerprints(out.paths)
    assert got.dtype == np.uint32 and got.tobytes() == X.tobytes()


# ------------------------------------------------------------------- a worker dies
class DieOnce:
    """A Bag partition that kills its worker process half-way through being read, the first time only.

    The marker file records the first attempt, so Dask's retry (on the restarted
    or the other worker) reads it to the end.
    """

    def __init__(self, smiles, marker):
        self.smiles = list(smiles)
        self.marker = str(marker)

    def __iter__(self):
        half = len(self.smiles) // 2
        yield from self.smiles[:half]
        if not os.path.exists(self.marker):
            with open(self.marker, "w") as fh:
                fh.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        yield from self.smiles[half:]


@pytest.mark.slow  # the SIGKILL tests below cover a lost worker from outside; this one kills it from a task
def test_worker_killed_mid_task_is_survived(client, moses, tmp_path):
    import dask

    _, smiles, _, _ = moses
    sample = smiles[:1600]
    ref = sortslice.SortSlice(length=LENGTH)
    X = ref.fit_transform(sample)
    pieces = [sample[i : i + 400] for i in range(0, len(sample), 400)]

    def bag(marker):
        parts = [p if k != 2 else DieOnce(p, marker) for k, p in enumerate(pieces)]
        return db.from_delayed([dask.delayed(lambda x: x, pure=True)(p) for p in parts])

    def worker_pids():
        client.wait_for_workers(2, timeout=120)
        return set(client.run(os.getpid).values())

    before_fit = worker_pids()
    model = fit_partitioned(
        sortslice.SortSlice(length=LENGTH), bag(tmp_path / "fit.died"), client=client, chunk_size=100
    )
    assert (tmp_path / "fit.died").exists()
    _assert_same_fit(model, ref)
    assert int((tmp_path / "fit.died").read_text()) in before_fit

    before_transform = worker_pids()  # the killed worker was restarted by its nanny: a new process
    out = transform_partitioned(
        model, bag(tmp_path / "transform.died"), tmp_path / "fps", client=client, chunk_size=100
    )
    assert (tmp_path / "transform.died").exists()
    assert _fingerprints(out.paths).tobytes() == X.tobytes()
    # the killed task's temporary file went with the staging folder
    assert sorted(os.listdir(tmp_path / "fps")) == [f"part-0000{k}.parquet" for k in range(4)]
    assert int((tmp_path / "transform.died").read_text()) in before_transform
    worker_pids()


# ------------------------------------------------------- a worker SIGKILLed from outside
class KillAfter(SchedulerPlugin):
    """On the scheduler: SIGKILL the worker process that has just finished its ``after``-th task whose key starts
    with ``prefix`` — once, and only while tasks of that prefix are still to run — and count how many times
    each such task finished (a task Dask ran again finishes twice)."""

    name = "sortslice-kill-after"

    def __init__(self, prefix: str, after: int = 2):
        self.prefix, self.after = prefix, after
        self.finished = collections.Counter()
        self.per_worker = collections.Counter()
        self.killed = None

    async def start(self, scheduler):
        self.scheduler = scheduler

    def _ours(self):
        return {str(k): t for k, t in self.scheduler.tasks.items() if str(k).startswith(self.prefix)}

    def transition(self, key, start, finish, *args, **kwargs):
        if finish != "memory" or not str(key).startswith(self.prefix):
            return
        self.finished[str(key)] += 1
        ts = self.scheduler.tasks.get(key)
        if self.killed is not None or ts is None or not ts.who_has:
            return
        ws = next(iter(ts.who_has))
        self.per_worker[ws.address] += 1
        if self.per_worker[ws.address] < self.after:
            return
        ours = self._ours()
        left = [k for k, t in ours.items() if t.state != "memory"]
        if not left:
            return  # too late to be mid-run: the test fails on `killed is None`
        held = [k for k, t in ours.items() if t.who_has and ws in t.who_has]
        self.killed = {"pid": ws.pid, "address": ws.address, "left": len(left), "held": len(held), "of": len(ours)}
        os.kill(ws.pid, signal.SIGKILL)

    def report(self) -> dict:
        return {"killed": self.killed, "finished": dict(self.finished)}


@pytest.fixture
def kill_after(client):
    """``arm(prefix)`` registers a :class:`KillAfter` for the next job; ``report()`` says what it did."""
    client.wait_for_workers(2, timeout=120)
    pids = set(client.run(os.getpid).values())
    armed = []

    def arm(prefix: str, after: int = 2):
        client.register_plugin(KillAfter(prefix, after))
        armed.append(prefix)

    def report() -> dict:
        return client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.plugins[KillAfter.name].report())

    arm.report = report
    arm.pids = pids
    yield arm
    if armed:
        client.unregister_scheduler_plugin(KillAfter.name)
    client.wait_for_workers(2, timeout=120)  # the nanny has started a new worker process in its place


def _assert_killed_mid_run(report: dict, pids: set, prefix_tasks: int) -> None:
    killed = report["killed"]
    assert killed is not None, report
    assert killed["pid"] in pids  # one of the two worker processes the job started with
    assert killed["left"] > 0 and killed["held"] >= 2 and killed["of"] == prefix_tasks, killed
    # the lost results were computed again: at least one partition's task finished twice
    assert max(report["finished"].values()) >= 2, report
    assert len(report["finished"]) == prefix_tasks


PART = MOSES_ROWS // 10


@pytest.fixture(scope="module")
def moses10(tmp_path_factory, moses):
    """The same 2,000 MOSES molecules as ten Parquet files of 200 (with ids)."""
    _, smiles, ref, X = moses
    folder = tmp_path_factory.mktemp("moses10")
    for k in range(10):
        part = smiles[PART * k : PART * (k + 1)]
        pq.write_table(
            pa.table({"id": [f"M{PART * k + j}" for j in range(len(part))], "SMILES": part}),
            folder / f"moses-{k:02d}.parquet",
        )
    return folder, smiles, ref, X


def test_worker_sigkilled_mid_fit_changes_nothing(client, moses10, kill_after):
    folder, _, ref, _ = moses10
    kill_after("sortslice-prevalence-")
    model = fit_partitioned(
        sortslice.SortSlice(length=LENGTH), str(folder / "*.parquet"), client=client, chunk_size=150, split_every=3
    )
    _assert_killed_mid_run(kill_after.report(), kill_after.pids, 10)
    # every id's prevalence, the vocabulary and the model file equal the single-machine fit's: a
    # partition counted on the killed worker and again elsewhere was counted once
    _assert_same_fit(model, ref)


def test_worker_sigkilled_mid_transform_changes_no_byte(client, moses10, kill_after, tmp_path):
    folder, _, ref, X = moses10
    model_path = tmp_path / "model.json"
    ref.save(model_path)
    model = sortslice.load(model_path)
    # the oracle: the same folder written by one process, without Dask
    r = run_cli("transform", model_path, folder / "*.parquet", "-o", tmp_path / "single", "--id-column", "id", "-j", 1)
    assert r.exit_code == 0, r.output
    kill_after("sortslice-write-")
    out = transform_partitioned(
        model, str(folder / "*.parquet"), tmp_path / "dask", client=client, id_column="id", chunk_size=150
    )
    _assert_killed_mid_run(kill_after.report(), kill_after.pids, 10)
    names = [f"part-{k:05d}.parquet" for k in range(10)]
    # no temporary file of the killed task is left, and every part is the one-process part, byte for byte
    assert sorted(os.listdir(tmp_path / "dask")) == sorted(os.listdir(tmp_path / "single")) == names
    for name in names:
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "single" / name).read_bytes(), name
    assert _fingerprints(out.paths).tobytes() == np.ascontiguousarray(X).tobytes()
    assert (out.rows, out.written, out.invalid, out.kept) == (MOSES_ROWS, MOSES_ROWS, 0, 0)

    # resumed on the cluster after a part was damaged by hand: only that part is written again
    damaged = tmp_path / "dask" / names[3]
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    again = transform_partitioned(
        model, str(folder / "*.parquet"), tmp_path / "dask", client=client, id_column="id", resume=True
    )
    assert again.kept == 9 and len(again.notes) == 1 and again.notes[0].startswith(f"{names[3]} is written again: ")
    assert damaged.read_bytes() == (tmp_path / "single" / names[3]).read_bytes()


def test_a_partition_counted_twice_is_refused():
    from sortslice.dask import DoubleCountError
    from sortslice.dask_tasks import State as _State
    from sortslice.dask_tasks import merge_states as _merge_states

    a = _State(np.array([1, 5], dtype=np.uint32), np.array([2, 1]), 2, 0, 2, None, (0,))
    b = _State(np.array([5], dtype=np.uint32), np.array([1]), 1, 0, 1, None, (1,))
    merged = _merge_states(a, b)
    assert merged.parts == (0, 1) and merged.prevalence.tolist() == [2, 2]
    with pytest.raises(DoubleCountError, match="partition 1 reached a prevalence merge twice"):
        _merge_states(merged, b)


# ------------------------------------------------------------- inputs, outputs, errors
def test_smi_files_strict_skip_and_existing_output(client, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.smi").write_text("CCO ethanol\nc1ccccc1 benzene\n")
    (tmp_path / "in" / "b.smi").write_text("CC(=O)O acetic\nC1CC bad_ring\nCN methylamine\n")
    (tmp_path / "in" / "notes.txt").write_text("not molecules")
    files = list_input_files(tmp_path / "in")
    assert [os.path.basename(f) for f in files] == ["a.smi", "b.smi"]
    smiles = ["CCO", "c1ccccc1", "CC(=O)O", "C1CC", "CN"]
    ref = sortslice.SortSlice(length=64, radius=1)
    X = ref.fit_transform(smiles)

    model, summary = fit_partitioned(
        sortslice.SortSlice(length=64, radius=1), tmp_path / "in", client=client, return_summary=True
    )
    _assert_same_fit(model, ref)
    assert (summary.rows, summary.n_invalid, summary.n_partitions) == (5, 1, 2)
    assert summary.first_problem.startswith(f"{files[1]}: row 2 (bad_ring): ")

    out = transform_partitioned(model, files, tmp_path / "skip", client=client, errors="skip", keep=["name"])
    table = pq.read_table(out.paths)
    assert table.column_names == ["name", "fingerprint"]
    assert table.column("name").to_pylist() == ["ethanol", "benzene", "acetic", "methylamine"]
    assert _fingerprints(out.paths).tobytes() == X[[0, 1, 2, 4]].tobytes()

    with pytest.raises(
        sortslice.InvalidMoleculeError,
        match=r"b\.smi: row 2 \(bad_ring\): .*its part was not written; complete parts are kept",
    ):
        transform_partitioned(model, files, tmp_path / "strict", client=client, errors="strict")
    # a.smi's part may be complete (kept for a resumed run): b.smi's is never written
    assert "part-00001.parquet" not in os.listdir(tmp_path / "strict")

    with pytest.raises(
        InputError,
        match=r"already holds 2 files \(part-00000.parquet, part-00001.parquet\): "
        r"choose an empty folder, or pass resume=True",
    ):
        transform_partitioned(model, files, tmp_path / "skip", client=client)
    again = transform_partitioned(model, files[:1], tmp_path / "skip", client=client, overwrite=True)
    assert sorted(os.listdir(tmp_path / "skip")) == ["part-00000.parquet"]
    assert len(pq.read_table(again.paths)) == 2

    series = dd.from_pandas(pd.Series(smiles, name="smiles"), npartitions=2)
    _assert_same_fit(fit_partitioned(sortslice.SortSlice(length=64, radius=1), series, client=client), ref)

    with pytest.raises(InputError, match="--smiles-column 'nope' does not apply"):
        fit_partitioned(sortslice.SortSlice(), tmp_path / "in" / "*.smi", smiles_column="nope", client=client)
    with pytest.raises(InputError, match="no files match"):
        fit_partitioned(sortslice.SortSlice(), tmp_path / "none-*.csv", client=client)
    with pytest.raises(TypeError, match="MIM cannot be fitted partition by partition"):
        fit_partitioned(sortslice.MIM(), files, client=client)
    fold = fit_partitioned(sortslice.HashFold(length=32), files, client=client)
    folded = transform_partitioned(fold, files, tmp_path / "fold", client=client)
    expected = sortslice.HashFold(length=32).fit().transform(smiles)
    rows = pq.read_table(folded.paths).column("fingerprint").to_pylist()
    assert rows == [None if i == 3 else expected[i].tolist() for i in range(5)]


def test_from_prevalence_equals_fit_and_validates():
    smiles = ["CCO", "CCN", "c1ccccc1", "CC(=O)O"]
    ref = sortslice.SortSlice(length=8, tie_break="smaller_id_first").fit(smiles)
    got = sortslice.SortSlice.from_prevalence(
        ref.state_ids_, ref.state_prevalence_, ref.n_molecules_, ref.n_invalid_, length=8, tie_break="smaller_id_first"
    )
    np.testing.assert_array_equal(got.vocabulary_, ref.vocabulary_)
    np.testing.assert_array_equal(got.transform(smiles), ref.transform(smiles))
    with pytest.raises(ValueError, match="strictly ascending"):
        sortslice.SortSlice.from_prevalence(np.array([3, 2], dtype=np.uint32), [1, 1], 2)
    with pytest.raises(ValueError, match="same length"):
        sortslice.SortSlice.from_prevalence(np.array([1, 2], dtype=np.uint32), [1], 2)
    with pytest.raises(ValueError, match="length must be"):
        sortslice.SortSlice.from_prevalence(np.array([1], dtype=np.uint32), [1], 1, length=0)


def test_import_sortslice_does_not_import_dask():
    code = (
        "import sys, sortslice, sortslice.cli; "
        "assert not any(m == 'dask' or m.startswith(('dask.', 'distributed')) for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ the command line
def test_cli_scheduler_fit_and_transform_equal_single_machine(client, moses, tmp_path):
    """``sortslice fit/transform --scheduler``: the model and every part equal the one-machine CLI's output."""
    folder, smiles, ref, X = moses
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.concat_tables([pq.read_table(folder / f"moses-{k}.parquet") for k in range(4)]), whole)
    address = client.scheduler.address
    r = run_cli("fit", folder, "-o", tmp_path / "dask.json", "--scheduler", address, "--chunk-size", 1000)
    assert r.exit_code == 0, r.output
    assert "(4 partitions)" in r.output
    r = run_cli("fit", whole, "-o", tmp_path / "one.json", "--chunk-size", 1000)
    assert r.exit_code == 0, r.output
    _assert_same_fit(sortslice.load(tmp_path / "dask.json"), sortslice.load(tmp_path / "one.json"))
    r = run_cli(
        "transform",
        tmp_path / "dask.json",
        folder / "*.parquet",
        "-o",
        tmp_path / "fps",
        "--scheduler",
        address,
        "--id-column",
        "id",
    )
    assert r.exit_code == 0, r.output
    assert f"wrote {MOSES_ROWS:,} rows in 4 files" in r.output
    parts = [tmp_path / "fps" / f"part-0000{k}.parquet" for k in range(4)]
    assert _fingerprints(parts).tobytes() == np.ascontiguousarray(X).tobytes()
    for k, part in enumerate(parts):
        single = tmp_path / f"single-{k}.parquet"
        r = run_cli(
            "transform", tmp_path / "one.json", folder / f"moses-{k}.parquet", "-o", single, "--id-column", "id"
        )
        assert r.exit_code == 0, r.output
        ours, theirs = pq.read_table(part), pq.read_table(single)
        assert ours.schema.equals(theirs.schema, check_metadata=True) and ours.equals(theirs)
    # running again into the full folder is an error (never a silent mix); --resume keeps every part, and so
    # does the one-machine command (the two write the same parts)
    before = [p.read_bytes() for p in parts]
    args = ["transform", tmp_path / "dask.json", folder / "*.parquet", "-o", tmp_path / "fps", "--id-column", "id"]
    r = run_cli(*args, "--scheduler", address)
    assert r.exit_code == 1 and r.output.startswith(f"Error: {tmp_path / 'fps'} already holds 4 files"), r.output
    for extra in (["--scheduler", address], []):
        r = run_cli(*args, "--resume", *extra)
        assert r.exit_code == 0, r.output
        assert "4 of the 4 parts were already complete and were kept" in r.output and "Note:" not in r.output
        assert [p.read_bytes() for p in parts] == before
    assert sorted(os.listdir(tmp_path / "fps")) == [p.name for p in parts]


@pytest.mark.slow  # --scheduler (test above) runs the same CLI path on a cluster; this one also starts one
def test_cli_dask_local_starts_its_own_cluster(tmp_path):
    smiles = datasets.paper_smiles("mpro")
    for k in range(2):
        (tmp_path / f"p{k}.smi").write_text("\n".join(smiles[k::2]) + "\nnot_a_smiles\n")
    r = run_cli("fit", tmp_path / "p*.smi", "-o", tmp_path / "m.json", "--dask-local", 2, "--length", 512)
    assert r.exit_code == 0, r.output
    assert "Warning: 2 of" in r.output and "invalid SMILES" in r.output
    ref = sortslice.SortSlice(length=512).fit(smiles[0::2] + ["x("] + smiles[1::2])
    np.testing.assert_array_equal(sortslice.load(tmp_path / "m.json").vocabulary_, ref.vocabulary_)
    r = run_cli(
        "transform",
        tmp_path / "m.json",
        tmp_path / "p*.smi",
        "-o",
        tmp_path / "out",
        "--dask-local",
        2,
        "--errors",
        "skip",
    )
    assert r.exit_code == 0, r.output
    got = _fingerprints(sorted((tmp_path / "out").glob("part-*.parquet")))
    want = sortslice.load(tmp_path / "m.json").transform(smiles[0::2] + smiles[1::2])
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["fit", "IN", "-o", "M", "--method", "mim", "--label", "y", "--scheduler", "ADDR"],
            "--method mim cannot be fitted on a Dask cluster",
        ),
        (["fit", "IN", "-o", "M", "--scheduler", "ADDR", "-j", "2"], "--jobs does not apply to fit on a Dask cluster"),
        (["transform", "M", "IN", "-o", "-", "--scheduler", "ADDR"], "output is a folder of Parquet files"),
        (["transform", "M", "IN", "-o", "x.csv", "--scheduler", "ADDR"], "not a .csv file"),
        (["transform", "M", "IN", "-o", "out", "--format", "npy", "--scheduler", "ADDR"], "is Parquet"),
        (["fit", "IN", "-o", "M", "--scheduler", "ADDR", "--dask-local", "2"], "give --scheduler or --dask-local"),
    ],
)
def test_cli_cluster_usage_errors_are_one_line(client, moses, tmp_path, args, message):
    folder, _, ref, _ = moses
    ref.save(tmp_path / "model.json")
    names = {
        "IN": str(folder),
        "M": str(tmp_path / ("model.json" if args[0] == "transform" else "new.json")),
        "ADDR": client.scheduler.address,
    }
    r = run_cli(*[names.get(a, a) for a in args])
    assert r.exit_code != 0
    assert message in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "new.json").exists()


def test_cli_strict_and_bad_partition_errors(client, tmp_path):
    (tmp_path / "a.smi").write_text("CCO\nCCN\n")
    (tmp_path / "b.smi").write_text("CCC\nC1CC\n")
    address = client.scheduler.address
    r = run_cli("fit", tmp_path / "*.smi", "-o", tmp_path / "m.json", "--scheduler", address, "--errors", "strict")
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1].startswith("Error: ") and "b.smi: row 2" in r.output
    assert not (tmp_path / "m.json").exists()
    r = run_cli("fit", tmp_path / "nothing-*.smi", "-o", tmp_path / "m.json", "--scheduler", address)
    assert r.exit_code == 1 and "Error: " in r.output and "Traceback" not in r.output


def test_document_frequency_bounds_on_the_cluster_are_the_single_machine_fit(client, tmp_path):
    # min_df/max_df are applied once, to the merged counts: the same model file as one machine's fit
    smiles = datasets.paper_smiles("lipophilicity")[:900]
    params = dict(length=512, min_df=4, max_df=0.4)
    ref = sortslice.SortSlice(**params).fit(smiles)
    model = fit_partitioned(sortslice.SortSlice(**params), db.from_sequence(smiles, npartitions=3), client=client)
    _assert_same_fit(model, ref)
    model.save(tmp_path / "dask.json")
    ref.save(tmp_path / "one.json")
    a, b = (tmp_path / "dask.json").read_text(), (tmp_path / "one.json").read_text()
    assert json.loads(a)["digest"] == json.loads(b)["digest"]
    assert [x for x in a.splitlines() if '"created"' not in x] == [x for x in b.splitlines() if '"created"' not in x]
    with pytest.raises(ValueError, match="corresponds to < documents"):
        fit_partitioned(
            sortslice.SortSlice(min_df=500, max_df=0.5), db.from_sequence(smiles, npartitions=3), client=client
        )
