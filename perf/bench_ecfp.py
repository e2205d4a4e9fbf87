"""Side-by-side benchmarks of the ECFP engine against RDKit (one process, same molecules).

Usage (from the repository root)::

    python perf/bench_ecfp.py            # full run (~6-9 min on 2 cores), writes perf/results/ecfp.md
    python perf/bench_ecfp.py --quick    # small samples, writes perf/results/ecfp_quick.md

Sections
--------
(a) RDKit ``Mol`` -> ids, radius 2, ~20k MOSES test molecules:
    ``sortslice.ecfp(mols, n_jobs=n)`` (flatten + kernel) and the kernel alone
    (``ids_from_graph`` on an already flattened batch) vs
    ``GetMorganGenerator(radius=2).GetSparseCountFingerprints(mols, numThreads=n)``.
(b) SMILES -> ids, 100k MOSES train molecules: ``sortslice.ecfp(smiles, n_jobs=2)``
    (worker pool warmed by a small call first) vs RDKit parse + ``GetSparseCountFingerprint``
    in one process, and vs the floor: only parsing the SMILES with RDKit on a
    ``fork`` ``multiprocessing.Pool`` of all cores (returning a count).
(c) Cold start in fresh subprocesses: ``import sortslice`` + a first small ``ecfp()``
    call with the Numba cache warm, and with an empty cache (fresh ``NUMBA_CACHE_DIR``).

Every timed comparison runs its cases interleaved (the order rotates each round) so
machine noise hits ours and RDKit's alike; tables report medians and ratios of
medians, plus this process's CPU time (robust when other processes load the
machine, which the notes quantify from /proc/stat).  The "where the time goes"
tables come from the same timed runs: engine functions are wrapped with timers
while ``ecfp()`` runs (:class:`Probe`); for (b) a serial in-process diagnostic
adds the per-stage CPU cost of the workers' job.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from _harness import cpu_name, git_commit, load_average

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
import datasets as data_locator  # noqa: E402  (tests/datasets.py: the one locator of the large data sets)

RESULTS = HERE / "results"

RADIUS = 2

# ---------------------------------------------------------------- data (read in place)


def read_smiles(name: str, limit: int | None = None) -> list[str]:
    """First ``limit`` SMILES of a MOSES ``.csv.gz`` (header ``SMILES``), read in place."""
    path = data_locator.large_path(name)
    out: list[str] = []
    with gzip.open(path, "rt") as fh:
        header = fh.readline().strip().split(",")
        col = next(i for i, h in enumerate(header) if h.strip().upper() == "SMILES")
        for line in fh:
            line = line.strip()
            if not line:
                continue
            out.append(line.split(",")[col])
            if limit is not None and len(out) >= limit:
                break
    return out


def parse_mols(smiles: list[str]) -> list:
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(s) for s in smiles]
    return [m for m in mols if m is not None]


# ---------------------------------------------------------------- RDKit baselines


def rdkit_generator():
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=RADIUS)


def rdkit_smiles_to_fps(smiles: list[str], gen) -> list:
    """Single-process RDKit: parse each SMILES and take its sparse count fingerprint."""
    from rdkit import Chem, rdBase

    out = []
    with rdBase.BlockLogs():
        for s in smiles:
            m = Chem.MolFromSmiles(s)
            out.append(gen.GetSparseCountFingerprint(m) if m is not None else None)
    return out


def count_parsed(chunk: list[str]) -> int:
    """Floor worker: parse a chunk with RDKit and return only how many parsed."""
    from rdkit import Chem, rdBase

    n = 0
    with rdBase.BlockLogs():
        for s in chunk:
            if Chem.MolFromSmiles(s) is not None:
                n += 1
    return n


def parse_chunk_dropped(chunk: list[str]) -> int:
    """Ladder rung: our workers' job (``parse.parse_chunk``) with the result dropped in the worker."""
    from sortslice.engine import parse as _worker

    return len(_worker.parse_chunk("smiles", chunk, False, False)["buf"])


def default_chunk_size(n_items: int, n_jobs: int) -> int:
    """The chunk size our pool uses by default (engine/pool.py), reused for the floor."""
    return max(500, min(10000, -(-n_items // (n_jobs * 8))))


def chunks_of(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def parse_floor_pool(n_jobs: int):
    """A persistent ``fork`` pool for the parse floor (created once, warmed like ours)."""
    return mp.get_context("fork").Pool(n_jobs)


def parse_floor(pool, chunks: list[list[str]]) -> int:
    return sum(pool.map(count_parsed, chunks, chunksize=1))


# ---------------------------------------------------------------- timing


def interleaved(cases: dict, repeats: int, warm: dict | None = None, cpu: dict | None = None) -> dict[str, list[float]]:
    """Wall times of every case ``repeats`` times, one of each per round, rotating the order.

    ``warm`` maps a case to an untimed warm-up callable (default: the case itself).
    ``cpu``, when given, receives this process's CPU time of every run (all its
    threads, not its worker processes): unlike wall time it barely moves when other
    processes compete for the cores.
    """
    names = list(cases)
    for name in names:
        (warm or {}).get(name, cases[name])()
    times: dict[str, list[float]] = {n: [] for n in names}
    if cpu is not None:
        cpu.update({n: [] for n in names})
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            gc.collect()
            c0 = time.process_time()
            t0 = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - t0)
            if cpu is not None:
                cpu[name].append(time.process_time() - c0)
    return times


def med(ts: list[float]) -> float:
    return statistics.median(ts)


def paired_ratio(num: list[float], den: list[float]) -> float:
    """Median over rounds of num_i / den_i (both measured in the same round)."""
    return statistics.median([a / b for a, b in zip(num, den)])


class Probe:
    """In-situ breakdown: wrap engine functions with timers while one call runs.

    ``targets`` are ``(module, attribute, label)``; generator functions are timed per
    ``next()`` (for the worker pool: time the main process spends waiting).  Names
    that do not exist (the engine is being edited) are skipped.  The wrappers cost a
    few microseconds per call and there are a few dozen calls per run.
    """

    def __init__(self, targets):
        self.targets = targets
        self.runs: list[dict[str, float]] = []

    def __call__(self, fn):
        import inspect

        acc: dict[str, float] = {label: 0.0 for _m, _a, label in self.targets}
        acc.update({f"cpu:{label}": 0.0 for _m, _a, label in self.targets})
        saved = []

        def timed(orig, label):
            if inspect.isgeneratorfunction(orig):

                def gen(*a, **k):
                    it = orig(*a, **k)
                    while True:
                        t0, c0 = time.perf_counter(), time.process_time()
                        try:
                            x = next(it)
                        except StopIteration:
                            return
                        finally:
                            acc[label] += time.perf_counter() - t0
                            acc[f"cpu:{label}"] += time.process_time() - c0
                        yield x

                return gen

            def call(*a, **k):
                t0, c0 = time.perf_counter(), time.process_time()
                try:
                    return orig(*a, **k)
                finally:
                    acc[label] += time.perf_counter() - t0
                    acc[f"cpu:{label}"] += time.process_time() - c0

            return call

        for mod, attr, label in self.targets:
            if hasattr(mod, attr):
                orig = getattr(mod, attr)
                saved.append((mod, attr, orig))
                setattr(mod, attr, timed(orig, label))
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            fn()
        finally:
            acc["whole"] = time.perf_counter() - t0
            acc["cpu:whole"] = time.process_time() - c0
            for mod, attr, orig in saved:
                setattr(mod, attr, orig)
        self.runs.append(acc)

    def rows(self, n_items: int, rest_label: str | None, whole_label: str) -> list[dict]:
        """One row per target, then ``rest_label`` (whole minus the targets; ``None`` when the
        targets run concurrently and do not add up), then the whole call."""
        labels = [label for _m, _a, label in self.targets]
        whole = med([r["whole"] for r in self.runs])
        rows = []
        for label in labels:
            m = med([r[label] for r in self.runs])
            rows.append(
                dict(
                    piece=label,
                    median=m,
                    per_mol=m / n_items,
                    share=m / whole,
                    cpu=med([r[f"cpu:{label}"] for r in self.runs]),
                )
            )
        if rest_label is not None:
            rest = med([r["whole"] - sum(r[label] for label in labels) for r in self.runs])
            rest_cpu = med([r["cpu:whole"] - sum(r[f"cpu:{label}"] for label in labels) for r in self.runs])
            rows.append(dict(piece=rest_label, median=rest, per_mol=rest / n_items, share=rest / whole, cpu=rest_cpu))
        rows.append(
            dict(
                piece=whole_label,
                median=whole,
                per_mol=whole / n_items,
                share=1.0,
                cpu=med([r["cpu:whole"] for r in self.runs]),
            )
        )
        return rows


# ---------------------------------------------------------------- machine noise


def _machine_busy() -> float | None:
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    """CPU seconds of this process plus its reaped children."""
    import resource

    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


class Noise:
    """CPU used by *other* processes while a section ran (the machine is shared)."""

    def __init__(self, cores: int):
        self.cores = cores
        self.sections: list[str] = []

    def wait_quiet(self, max_wait: float, threshold: float = 0.2) -> str:
        """Wait (at most ``max_wait`` s) until other processes use < ``threshold`` of the cores."""
        if max_wait <= 0 or _machine_busy() is None:
            return ""
        t0 = time.perf_counter()
        while True:
            b0, o0 = _machine_busy(), _own_cpu()
            time.sleep(1.0)
            load = ((_machine_busy() - b0) - (_own_cpu() - o0)) / self.cores
            waited = time.perf_counter() - t0
            if load < threshold or waited >= max_wait:
                return f"waited {waited:.0f} s for a quiet machine (others at {load * 100:.0f}% when starting)"

    def __call__(self, name: str, fn, *args, max_wait: float = 0.0):
        waited = self.wait_quiet(max_wait)
        b0, o0, t0 = _machine_busy(), _own_cpu(), time.perf_counter()
        out = fn(*args)
        wall = time.perf_counter() - t0
        if b0 is not None:
            other = (_machine_busy() - b0) - (_own_cpu() - o0)
            self.sections.append(
                f"{name}: {wall:.0f} s wall; other processes used {max(other, 0):.0f} CPU-s "
                f"= {max(other, 0) / (wall * self.cores) * 100:.0f}% of the {self.cores} cores"
                f"{'; ' + waited if waited else ''}."
            )
        return out


# ---------------------------------------------------------------- report model


class Report:
    def __init__(self):
        self.headline: list[dict] = []  # comparisons against targets
        self.detail: list[dict] = []  # every measurement
        self.breakdown: dict[str, list[dict]] = {}
        self.notes: list[str] = []
        self.raw: dict[str, list[float]] = {}

    def measure(
        self, section: str, name: str, ts: list[float], n_items: int | None = None, cpu: list[float] | None = None
    ):
        self.raw[f"{section}: {name}"] = ts
        if cpu:
            self.raw[f"{section}: {name} [CPU of this process]"] = cpu
        self.detail.append(
            dict(
                section=section,
                name=name,
                median=med(ts),
                min=min(ts),
                max=max(ts),
                n=len(ts),
                items=n_items,
                cpu=med(cpu) if cpu else None,
            )
        )

    def compare(
        self, label: str, ours: list[float], ref: list[float], ref_label: str, target: str, kind: str, goal: float
    ):
        """``kind='speedup'``: ratio = ref/ours must be >= goal; ``'within'``: ours/ref <= goal."""
        if kind == "speedup":
            ratio, paired = med(ref) / med(ours), paired_ratio(ref, ours)
            met = ratio >= goal
        else:
            ratio, paired = med(ours) / med(ref), paired_ratio(ours, ref)
            met = ratio <= goal
        self.headline.append(
            dict(
                label=label,
                ours=med(ours),
                ref=med(ref),
                ref_label=ref_label,
                ratio=ratio,
                paired=paired,
                kind=kind,
                target=target,
                met=met,
            )
        )

    def check(self, label: str, value: str, target: str, met: bool | None):
        self.headline.append(dict(label=label, value=value, target=target, met=met))


def fmt_s(x: float) -> str:
    return f"{x:.3f} s" if x >= 0.1 else f"{x * 1e3:.1f} ms"


def markdown(rep: Report, meta: dict) -> str:
    L = []
    L.append(f"# ECFP engine benchmarks{' (quick)' if meta['quick'] else ''}\n")
    L.append(f"Command: `{meta['command']}`  ")
    L.append(f"Date: {meta['date']}; wall time of the whole script: {meta['elapsed']:.0f} s  ")
    L.append(
        f"Machine: {meta['cpu']} x {meta['cores']} cores (usable), {meta['platform']}; "
        f"load average before/after: {meta['load_before']} / {meta['load_after']}  "
    )
    L.append(
        f"Python {meta['python']}, RDKit {meta['rdkit']}, Numba {meta['numba']} "
        f"(threading layer {meta['layer']}, NUMBA_NUM_THREADS={meta['numba_threads']}), NumPy {meta['numpy']}  "
    )
    L.append(f"sortslice {meta['sortslice']} at {meta['git']}  ")
    L.append(
        f"Repeats: {meta['repeats']} per measurement ((a): {max(meta['repeats'], 9)}), interleaved "
        "(order rotated each round); "
        'times are medians; ratios are ratios of medians ("paired" = median of per-round ratios).\n'
    )

    L.append("## Targets\n")
    L.append("| Comparison | Ours | Reference | Ratio | Paired ratio | Target | Met |")
    L.append("|---|---:|---:|---:|---:|---|:---:|")
    for h in rep.headline:
        met = {True: "yes", False: "**NO**", None: "n/a"}[h["met"]]
        if "value" in h:
            L.append(f"| {h['label']} | {h['value']} | | | | {h['target']} | {met} |")
        else:
            unit = "x faster" if h["kind"] == "speedup" else "x the floor"
            L.append(
                f"| {h['label']} | {fmt_s(h['ours'])} | {fmt_s(h['ref'])} ({h['ref_label']}) | "
                f"{h['ratio']:.2f}{unit} | {h['paired']:.2f} | {h['target']} | {met} |"
            )
    L.append("")

    L.append("## All measurements\n")
    L.append("CPU = median CPU time of this process (all its threads; excludes worker processes and children).\n")
    L.append("| Section | Measurement | Median | Min | Max | Runs | Molecules/s (median) | CPU |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for d in rep.detail:
        rate = f"{d['items'] / d['median']:,.0f}" if d["items"] else ""
        cpu = fmt_s(d["cpu"]) if d.get("cpu") is not None else ""
        L.append(
            f"| {d['section']} | {d['name']} | {fmt_s(d['median'])} | {fmt_s(d['min'])} | "
            f"{fmt_s(d['max'])} | {d['n']} | {rate} | {cpu} |"
        )
    L.append("")

    for title, rows in rep.breakdown.items():
        L.append(f"## Where the time goes: {title}\n")
        L.append("| Piece | Median | us/molecule | Share | CPU (this process) |")
        L.append("|---|---:|---:|---:|---:|")
        for r in rows:
            if "text" in r:
                L.append(f"| {r['piece']} | {r['text']} | | | |")
                continue
            share = f"{r['share'] * 100:.0f}%" if r.get("share") is not None else ""
            cpu = fmt_s(r["cpu"]) if r.get("cpu") is not None else ""
            L.append(f"| {r['piece']} | {fmt_s(r['median'])} | {r['per_mol'] * 1e6:.1f} | {share} | {cpu} |")
        L.append("")

    if rep.notes:
        L.append("## Notes\n")
        L.extend(f"- {n}" for n in rep.notes)
        L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- (a) Mols -> ids


def check_identical(res, fps, rows) -> int:
    """How many of ``rows`` have exactly RDKit's ids and counts."""
    same = 0
    for i in rows:
        if fps[i] is not None and res.to_dict(i) == fps[i].GetNonzeroElements():
            same += 1
    return same


def bench_mols(rep: Report, n_mols: int, repeats: int, threads: list[int]):
    import sortslice
    from sortslice.engine import fingerprint as fp_mod
    from sortslice.engine import flatten as flat_mod
    from sortslice.engine.fingerprint import EcfpParams, flatten, ids_from_graph

    mols = parse_mols(read_smiles("moses_test.csv.gz", n_mols))
    n = len(mols)
    gen = rdkit_generator()
    params = EcfpParams(radius=RADIUS)
    section = f"(a) {n:,} Mols"

    # correctness of what we time: every row identical to RDKit
    res = sortslice.ecfp(mols, radius=RADIUS, n_jobs=1)
    fps = gen.GetSparseCountFingerprints(mols, numThreads=1)
    same = check_identical(res, fps, range(n))
    rep.notes.append(f"(a) ids and counts identical to RDKit for {same:,}/{n:,} molecules.")
    del res, fps
    graph = flatten(mols, n_jobs=1).graph

    probes = {
        t: Probe(
            [
                (flat_mod, "to_pickles", f"to_pickles: Mol.ToBinary() on {t} thread{'s' * (t > 1)}"),
                (flat_mod, "graph_from_pickles", "graph_from_pickles (compiled pickle reader)"),
                (fp_mod, "ids_from_graph", "kernel: ids_from_graph"),
            ]
        )
        for t in threads
    }
    cases = {}
    for t in threads:
        cases[f"ours ecfp(mols, n_jobs={t})"] = lambda t=t: probes[t](
            lambda: sortslice.ecfp(mols, radius=RADIUS, n_jobs=t)
        )
        cases[f"ours kernel alone ids_from_graph(threads={t})"] = lambda t=t: ids_from_graph(graph, params, threads=t)
        cases[f"RDKit GetSparseCountFingerprints(numThreads={t})"] = lambda t=t: gen.GetSparseCountFingerprints(
            mols, numThreads=t
        )
    cpu: dict = {}
    times = interleaved(cases, repeats, cpu=cpu)
    for name, ts in times.items():
        rep.measure(section, name, ts, n, cpu[name])
    for t in threads:
        rd = times[f"RDKit GetSparseCountFingerprints(numThreads={t})"]
        rep.compare(
            f"(a) Mols -> ids, {t} thread{'s' * (t > 1)}: `ecfp(mols, n_jobs={t})` vs RDKit",
            times[f"ours ecfp(mols, n_jobs={t})"],
            rd,
            f"RDKit {t}T",
            ">= 1.3x faster",
            "speedup",
            1.3,
        )
    for t in threads:
        rd = times[f"RDKit GetSparseCountFingerprints(numThreads={t})"]
        rep.compare(
            f"(a) kernel alone, {t} thread{'s' * (t > 1)}: `ids_from_graph` vs RDKit",
            times[f"ours kernel alone ids_from_graph(threads={t})"],
            rd,
            f"RDKit {t}T",
            ">= 4x faster",
            "speedup",
            4.0,
        )
    for t in threads:
        probes[t].runs = probes[t].runs[1:]  # drop the warm-up run
        rows = probes[t].rows(n, "rest: input classification, assembly, Python glue", "**whole `ecfp(mols)`**")
        rdm = med(times[f"RDKit GetSparseCountFingerprints(numThreads={t})"])
        rows.append(
            dict(
                piece=f"RDKit GetSparseCountFingerprints(numThreads={t}), same rounds",
                median=rdm,
                per_mol=rdm / n,
                share=None,
            )
        )
        rep.breakdown[f"(a) inside `ecfp(mols, n_jobs={t})`, {n:,} Mols (timed in the runs above)"] = rows
    gc.collect()


# ---------------------------------------------------------------- (b) SMILES -> ids


def bench_smiles(rep: Report, n_smiles: int, repeats: int, n_jobs: int, diag_n: int):
    import pickle

    import sortslice
    from sortslice.engine import fingerprint as fp_mod
    from sortslice.engine import flatten as flat_mod
    from sortslice.engine import parse as _worker
    from sortslice.engine import processes as engine_pool
    from sortslice.engine.fingerprint import EcfpParams, ids_from_graph
    from sortslice.engine.graph import graph_from_pickles

    smiles = read_smiles("moses_train.csv.gz", n_smiles)
    n = len(smiles)
    gen = rdkit_generator()
    section = f"(b) {n:,} SMILES"
    chunk = default_chunk_size(n, n_jobs)
    floor_chunks = chunks_of(smiles, chunk)
    warm_smiles = smiles[: 4 * n_jobs * 500]
    ours_name = f"ours ecfp(smiles, n_jobs={n_jobs})"
    rdkit_name = "RDKit 1 process: MolFromSmiles + GetSparseCountFingerprint"
    floor_name = f"floor: MolFromSmiles only, fork Pool({n_jobs})"
    # the ladder from the floor to ours (diagnostic, same rounds): the floor's job on our
    # executor, then our workers' job with the main process doing nothing with the results
    floor_ex_name = f"ladder: floor's job on our worker pool (ProcessPoolExecutor({n_jobs}))"
    dropped_name = "ladder: our workers' job on our pool, result dropped in the worker"
    workers_name = "ladder: our workers only (iter_parse_parallel, results discarded)"

    # warm our worker pool with a small call (forks the workers, imports RDKit there)
    t0 = time.perf_counter()
    sortslice.ecfp(warm_smiles, radius=RADIUS, n_jobs=n_jobs)
    warm_s = time.perf_counter() - t0
    pool = parse_floor_pool(n_jobs)
    probe = Probe(
        [
            (flat_mod, "iter_parse_parallel", "main thread waits for worker chunks (next() on the pool)"),
            (flat_mod, "graph_from_pickles", "main thread: graph_from_pickles, 1 thread"),
            (fp_mod, "ids_from_graph", "helper thread: kernel ids_from_graph, concurrent with the rows above"),
        ]
    )
    try:
        t0 = time.perf_counter()
        parse_floor(pool, chunks_of(warm_smiles, 500))
        warm_floor = time.perf_counter() - t0
        rep.notes.append(
            f"(b) our worker pool ({n_jobs} processes) was warmed by `sortslice.ecfp(smiles[:{len(warm_smiles)}], "
            f"n_jobs={n_jobs})` ({warm_s:.2f} s, untimed) before timing; the floor's fork Pool({n_jobs}) was "
            f"created once and warmed the same way ({warm_floor:.2f} s). The floor maps Chem.MolFromSmiles over "
            f"{len(floor_chunks)} chunks of {chunk:,} (our default chunk size) and returns only a count."
        )

        # correctness of what we time (sample of rows)
        res = sortslice.ecfp(smiles, radius=RADIUS, n_jobs=n_jobs)
        sample = range(0, n, max(1, n // 2000))
        ref = rdkit_smiles_to_fps([smiles[i] for i in sample], gen)
        same = sum(
            1 for j, i in enumerate(sample) if ref[j] is not None and res.to_dict(i) == ref[j].GetNonzeroElements()
        )
        rep.notes.append(
            f"(b) ids identical to RDKit on a sample of {same:,}/{len(sample):,} rows; "
            f"{res.n_invalid} invalid rows in the batch."
        )
        del res

        cases = {
            ours_name: lambda: probe(lambda: sortslice.ecfp(smiles, radius=RADIUS, n_jobs=n_jobs)),
            rdkit_name: lambda: rdkit_smiles_to_fps(smiles, gen),
            floor_name: lambda: parse_floor(pool, floor_chunks),
        }
        if hasattr(engine_pool, "iter_parse_parallel") and hasattr(engine_pool, "get_pool"):
            cases[floor_ex_name] = lambda: sum(engine_pool.get_pool(n_jobs).map(count_parsed, floor_chunks))
            cases[dropped_name] = lambda: sum(engine_pool.get_pool(n_jobs).map(parse_chunk_dropped, floor_chunks))
            cases[workers_name] = lambda: sum(
                1 for _ in engine_pool.iter_parse_parallel("smiles", smiles, False, False, n_jobs)
            )
        warm = {  # everything is warm already; a small untimed call each before the first round
            ours_name: lambda: sortslice.ecfp(warm_smiles, radius=RADIUS, n_jobs=n_jobs),
            rdkit_name: lambda: rdkit_smiles_to_fps(warm_smiles, gen),
            floor_name: lambda: parse_floor(pool, chunks_of(warm_smiles, 500)),
            floor_ex_name: lambda: sum(engine_pool.get_pool(n_jobs).map(count_parsed, chunks_of(warm_smiles, 500))),
            dropped_name: lambda: sum(
                engine_pool.get_pool(n_jobs).map(parse_chunk_dropped, chunks_of(warm_smiles, 500))
            ),
            workers_name: lambda: sum(
                1 for _ in engine_pool.iter_parse_parallel("smiles", warm_smiles, False, False, n_jobs)
            ),
        }
        cpu: dict = {}
        times = interleaved(cases, repeats, warm, cpu=cpu)
    finally:
        pool.close()
        pool.join()
    for name in cases:
        rep.measure(section, name, times[name], n, cpu[name])
    rep.compare(
        f"(b) SMILES -> ids, {n:,} MOSES train: `ecfp(smiles, n_jobs={n_jobs})` vs single-process RDKit",
        times[ours_name],
        times[rdkit_name],
        "RDKit 1 proc",
        ">= 1.6x faster",
        "speedup",
        1.6,
    )
    rep.compare(
        f"(b) same, vs parse floor (RDKit MolFromSmiles only on {n_jobs} processes)",
        times[ours_name],
        times[floor_name],
        f"floor {n_jobs} proc",
        "within 1.3x of the floor",
        "within",
        1.3,
    )
    # the kernels run on a helper thread while the main thread receives the next chunk, so
    # these pieces overlap and do not add up to the whole (no "rest" row); CPU is the process's
    rep.breakdown[
        f"(b) main process inside `ecfp(smiles, n_jobs={n_jobs})`, {n:,} SMILES "
        f"(timed in the runs above; pieces overlap, CPU counts all of this process's threads)"
    ] = probe.rows(n, None, "**whole `ecfp(smiles)`**")
    if workers_name in times:
        fl = med(times[floor_name])
        ladder = [
            (floor_name, "floor: fork Pool, MolFromSmiles, return a count"),
            (floor_ex_name, "+ our ProcessPoolExecutor instead of Pool (executor overhead)"),
            (dropped_name, "+ our workers' job (ToBinary, bookkeeping), result dropped in the worker"),
            (workers_name, "+ results (pickles) sent back to main, in order; main does nothing with them"),
            (ours_name, "+ main process: pickle reader + kernel per chunk = `ecfp(smiles)`"),
        ]
        rows, prev = [], None
        for key, label in ladder:
            v = med(times[key])
            rows.append(
                dict(
                    piece=f"{label}: {v / fl:.2f}x floor"
                    + (f" (step {(v - prev) / fl:+.2f})" if prev is not None else ""),
                    median=v,
                    per_mol=v / n,
                    share=None,
                )
            )
            prev = v
        rep.breakdown[f"(b) ladder from the floor to ours, {n:,} SMILES, wall time (timed in the runs above)"] = rows

    # serial CPU cost of each pipeline stage on a sub-sample (diagnostic)
    sub = smiles[:diag_n]
    m = len(sub)
    sub_chunks = chunks_of(sub, chunk)
    params = EcfpParams(radius=RADIUS)
    parsed = [_worker.parse_chunk("smiles", c, False, False) for c in sub_chunks]
    result_blobs = [pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL) for p in parsed]
    item_blobs = [pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL) for c in sub_chunks]

    def our_parse():
        n_ok = 0
        with _worker.quiet_rdkit():
            for s in sub:
                n_ok += _worker.parse(s)[0] is not None
        return n_ok

    def parse_then_pickle():
        out = []
        with _worker.quiet_rdkit():
            for s in sub:
                mol = _worker.parse(s)[0]
                if mol is not None:
                    out.append(mol.ToBinary())
        return out

    def main_side():
        for c, p in zip(sub_chunks, parsed):
            offsets = np.zeros(len(c) + 1, dtype=np.int64)
            np.cumsum(p["lengths"], out=offsets[1:])
            graph, _status = graph_from_pickles(np.frombuffer(p["buf"], dtype=np.uint8), offsets, threads=1)
            ids_from_graph(graph, params, threads=1)

    def ipc():
        for c, p, rb, ib in zip(sub_chunks, parsed, result_blobs, item_blobs):
            pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.loads(ib)
            pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.loads(rb)

    # NB the parse-only case must drop each Mol at once, as the floor does: keeping
    # 20k Mols alive makes parsing itself ~15% slower (allocator growth, page faults)
    k_parse = "worker: Chem.MolFromSmiles only, Mol dropped (= the floor's job)"
    k_ours = "worker: our parse (_worker.parse: no stereo perception without stereo marks), Mol dropped"
    k_tb = "worker: our parse + Mol.ToBinary() (bytes kept)"
    k_chunk = "worker: whole _worker.parse_chunk (parse + ToBinary + bookkeeping)"
    k_ipc = "IPC serialisation: pickle + unpickle of chunk lists and results"
    k_main = "main: graph_from_pickles + kernel, 1 thread"
    # all serial and in this process: CPU time is the robust measure on a shared machine
    pt: dict = {}
    interleaved(
        {
            k_parse: lambda: count_parsed(sub),
            k_ours: our_parse,
            k_tb: parse_then_pickle,
            k_chunk: lambda: [_worker.parse_chunk("smiles", c, False, False) for c in sub_chunks],
            k_ipc: ipc,
            k_main: main_side,
        },
        repeats,
        cpu=pt,
    )
    md = {k: med(v) for k, v in pt.items()}
    per = {k: dict(piece=k, median=v, per_mol=v / m, share=v / md[k_parse]) for k, v in md.items()}
    tb = md[k_tb] - md[k_ours]
    book = md[k_chunk] - md[k_tb]
    rows = [
        per[k_parse],
        per[k_ours],
        per[k_tb],
        dict(piece="  = ToBinary (our parse+ToBinary - our parse)", median=tb, per_mol=tb / m, share=tb / md[k_parse]),
        per[k_chunk],
        dict(
            piece="  = bookkeeping (parse_chunk - parse+ToBinary)",
            median=book,
            per_mol=book / m,
            share=book / md[k_parse],
        ),
        per[k_ipc],
        per[k_main],
    ]
    ideal = (md[k_chunk] + md[k_ipc] + md[k_main]) / n_jobs
    floor_ideal = md[k_parse] / n_jobs
    rows.append(
        dict(
            piece=f"ideal ours on {n_jobs} cores = (worker + IPC + main) / {n_jobs}",
            median=ideal,
            per_mol=ideal / m,
            share=None,
        )
    )
    rows.append(
        dict(
            piece=f"ideal floor on {n_jobs} cores = parse / {n_jobs}",
            median=floor_ideal,
            per_mol=floor_ideal / m,
            share=None,
        )
    )
    rows.append(
        dict(piece="ideal ours / ideal floor (perfect overlap, no scheduling loss)", text=f"{ideal / floor_ideal:.2f}x")
    )
    rep.breakdown[
        f'(b) serial cost per stage, first {m:,} of the SMILES, chunks of {chunk:,} ("Median" = '
        f"median CPU time, run serially in this process; share = relative to the floor's parsing)"
    ] = rows
    bytes_out = sum(len(p["buf"]) for p in parsed)
    rep.notes.append(
        f"(b) worker -> main traffic: {bytes_out / m:.0f} bytes of RDKit pickles per molecule "
        f"({bytes_out / 2**20:.1f} MiB for {m:,} molecules)."
    )


# ---------------------------------------------------------------- (c) cold start

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import sortslice
t1 = time.perf_counter()
after_import = sorted(m for m in ("polars", "pyarrow", "rdkit", "numba") if m in sys.modules)
r = sortslice.ecfp(["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "C[C@H](N)C(=O)O", "CN1CCC[C@H]1c1cccnc1"])
t2 = time.perf_counter()
assert r.valid.all() and len(r) == 5
import numba
print(json.dumps(dict(import_s=t1 - t0, call_s=t2 - t1, total_s=t2 - t0, after_import=after_import,
                      polars_after_call="polars" in sys.modules, layer=numba.threading_layer())))
"""


def run_child(env: dict) -> dict:
    t0 = time.perf_counter()
    cp = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, cwd=tempfile.gettempdir(), timeout=600
    )
    wall = time.perf_counter() - t0
    if cp.returncode != 0:
        raise RuntimeError(f"cold-start child failed:\n{cp.stderr}")
    out = json.loads(cp.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    return out


def bench_cold(rep: Report, repeats_warm: int, repeats_cold: int):
    env = dict(os.environ)
    run_child(env)  # make sure the configured cache holds every first-call kernel
    warm, cold = [], []
    for i in range(max(repeats_warm, repeats_cold)):  # interleave warm and cold children
        if i < repeats_warm:
            warm.append(run_child(env))
        if i < repeats_cold:
            d = tempfile.mkdtemp(prefix="sortslice-numba-cold-")
            try:
                cold.append(run_child(dict(env, NUMBA_CACHE_DIR=d)))
            finally:
                shutil.rmtree(d, ignore_errors=True)
    section = "(c) cold start"
    for label, runs in (("warm cache", warm), ("empty cache", cold)):
        rep.measure(section, f"{label}: `import sortslice`", [r["import_s"] for r in runs])
        rep.measure(section, f"{label}: first `ecfp()` of 5 SMILES", [r["call_s"] for r in runs])
        rep.measure(section, f"{label}: import + first call", [r["total_s"] for r in runs])
        rep.measure(section, f"{label}: whole subprocess (interpreter start to exit)", [r["process_s"] for r in runs])
    w = med([r["total_s"] for r in warm])
    rep.check(
        "(c) warm Numba cache: `import sortslice` + first `ecfp()` in a fresh process",
        f"{fmt_s(w)} (whole process {fmt_s(med([r['process_s'] for r in warm]))})",
        "< 1 s incl. imports",
        w < 1.0,
    )
    c = med([r["call_s"] for r in cold])
    rep.check(
        "(c) empty Numba cache (fresh NUMBA_CACHE_DIR): first `ecfp()` compile time",
        f"{fmt_s(c)} (import + call {fmt_s(med([r['total_s'] for r in cold]))})",
        "report only",
        None,
    )
    polars = any("polars" in r["after_import"] for r in warm + cold)
    rep.check(
        "(c) `import sortslice` does not import polars",
        f"polars imported: {'yes' if polars else 'no'} ({len(warm + cold)} fresh processes)",
        "not imported",
        not polars,
    )
    rep.notes.append(
        f"(c) modules loaded by `import sortslice` (of polars, pyarrow, rdkit, numba): "
        f"{', '.join(warm[0]['after_import']) or 'none'}; polars after the first call: "
        f"{'yes' if any(r['polars_after_call'] for r in warm) else 'no'}; child threading layer: "
        f"{warm[0]['layer']}."
    )
    return warm[0]["layer"]


# ---------------------------------------------------------------- main


def _meta_static() -> dict:
    import numba
    import rdkit

    import sortslice

    git = git_commit(dirty=True)
    cpu = cpu_name("unknown CPU")
    from sortslice.engine.parallel import cpu_count

    return dict(
        python=platform.python_version(),
        rdkit=rdkit.__version__,
        numba=numba.__version__,
        numpy=np.__version__,
        sortslice=sortslice.__version__,
        git=git,
        cpu=cpu,
        cores=cpu_count(),
        platform=f"{platform.system()} {platform.release()}",
        numba_threads=numba.config.NUMBA_NUM_THREADS,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small samples and fewer repeats (smoke run)")
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs per measurement (>= 5; default 5; section (a) is cheap and uses max(N, 9))",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="Markdown output (default perf/results/ecfp.md, quick: perf/results/ecfp_quick.md)",
    )
    ap.add_argument("--skip", action="append", default=[], choices=["a", "b", "c"], help="skip a section")
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=None,
        metavar="SECONDS",
        help="before each section wait up to SECONDS for other processes to go quiet (default 15, quick 0)",
    )
    args = ap.parse_args(argv)
    if args.repeats is not None and args.repeats < 5:
        ap.error("--repeats must be >= 5")

    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")
    t_start = time.perf_counter()
    quick = args.quick
    repeats = args.repeats or 5
    wait = args.wait_quiet if args.wait_quiet is not None else (0.0 if quick else 15.0)
    from sortslice.engine import processes as engine_pool
    from sortslice.engine.parallel import cpu_count

    cores = cpu_count()
    meta = _meta_static()
    meta.update(
        quick=quick,
        repeats=repeats,
        load_before=load_average(),
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        command="python perf/bench_ecfp.py" + " ".join([""] + (argv if argv is not None else sys.argv[1:])),
    )
    rep = Report()
    noise = Noise(cores)
    layer = "n/a"
    if "c" not in args.skip:  # children are fresh processes: nothing in this one can matter
        print("(c) cold start ...", file=sys.stderr, flush=True)
        layer = noise("(c) cold start", bench_cold, rep, max(repeats, 7), 3 if quick else repeats, max_wait=wait)
    if "a" not in args.skip:
        print("(a) Mols -> ids ...", file=sys.stderr, flush=True)
        noise(
            "(a) Mols -> ids",
            bench_mols,
            rep,
            5_000 if quick else 20_000,
            max(repeats, 9),
            sorted({1, min(2, cores)}),
            max_wait=wait,
        )
    if "b" not in args.skip:
        print("(b) SMILES -> ids ...", file=sys.stderr, flush=True)

        def section_b():
            try:
                bench_smiles(rep, 20_000 if quick else 100_000, repeats, cores, 5_000 if quick else 10_000)
            finally:
                engine_pool.shutdown()  # reap our workers so their CPU time is counted as ours

        noise("(b) SMILES -> ids", section_b, max_wait=wait)
    try:
        import numba

        layer = numba.threading_layer()
    except ValueError:
        pass
    meta.update(layer=layer, load_after=load_average(), elapsed=time.perf_counter() - t_start)
    rep.notes.extend(f"Machine noise, {x}" for x in noise.sections)
    md = markdown(rep, meta)
    out = args.out or RESULTS / ("ecfp_quick.md" if quick else "ecfp.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(md + "\n")
    out.with_suffix(".json").write_text(
        json.dumps(
            dict(meta=meta, raw=rep.raw, headline=rep.headline, breakdown=rep.breakdown, notes=rep.notes), indent=1
        )
        + "\n"
    )
    print(md)
    print(f"\nwritten to {out} (raw timings: {out.with_suffix('.json')})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
