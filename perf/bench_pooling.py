"""Pooling benchmark: Sort & Slice fit and transform on the 1.58M MOSES training molecules.

Usage (from the repository root)::

    python perf/bench_pooling.py                 # full run, writes perf/results/pooling.md
    python perf/bench_pooling.py --limit 100000 --out /tmp/pooling_quick.md   # a quick look

The ECFP4 ids of every molecule are computed once with ``sortslice.ecfp(smiles, n_jobs=2)``
and cached in a ``.npz`` outside the repository (``--cache-dir``, default
``$TMPDIR/sortslice_bench``); pooling is then timed on those ids, so RDKit and parsing take
no part in any measurement.

Compared, in one process on the same ids (L = 1024, binary, larger id first on ties):

fit (prevalence + sort)
    ours: ``SortSlice(length=1024).fit(ids)`` (radix-partitioned Numba counting + ranking);
    reference: ``collections.Counter`` over each molecule's id list (its ``update`` is the
    C-accelerated counting loop), then ``sorted`` by ``(prevalence, id)``, reversed, sliced.
transform to a dense uint8 matrix and to SciPy CSR
    ours: ``SortSlice.transform`` (``sparse=False`` / ``True``);
    reference: a dict id -> column, looked up per id; dense output gathers (row, column)
    pairs and sets them in one NumPy assignment; CSR output builds sorted column lists per row.
authors' transform (on a sample of ``--sample`` molecules)
    the approach of the paper's stand-alone featuriser: per id, a membership test on the
    sliced sorted list and ``list.index`` for the column, a one-hot vector per id, summed
    with NumPy (binary mode).  Ours and the dict reference run on the same sample.

Every timed comparison runs its cases interleaved (the order rotates each round) so
machine noise hits ours and the references alike; tables report medians, ratios of
medians, and this process's CPU time (all threads), which moves much less than wall time
when other processes compete for the cores.  Each reference's output is checked equal to
ours once, outside the timings.  The Python id lists the references read are prepared
once, untimed, with shared int objects (as in a program that keeps its ids in Python).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from _harness import cpu_name, git_commit, load_average, versions
from bench_ecfp import data_locator, read_smiles  # perf/ is on the path: scripts run from it

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOURCE = "moses_train.csv.gz"
LENGTH = 1024
TARGET = 20.0


# ------------------------------------------------------------------------------------ ids
def load_ids(cache_dir: Path, limit: int | None):
    """ECFP4 ids of MOSES train (cached: keyed by the source file, sortslice and RDKit versions)."""
    import rdkit

    import sortslice

    src = data_locator.large_path(SOURCE)
    stat = src.stat()
    key = f"moses_train_ecfp4_{stat.st_size}_{int(stat.st_mtime)}_ss{sortslice.__version__}_rdkit{rdkit.__version__}"
    path = cache_dir / f"{key}.npz"
    info = {"cache": str(path)}
    if path.exists():
        z = np.load(path)
        arrays = {k: z[k] for k in ("indptr", "ids", "counts", "valid")}
        info["ecfp_s"] = None
    else:
        smiles = read_smiles(SOURCE)
        t0 = time.perf_counter()
        fp = sortslice.ecfp(smiles, n_jobs=2)
        info["ecfp_s"] = time.perf_counter() - t0
        arrays = {"indptr": fp.indptr, "ids": fp.ids, "counts": fp.counts, "valid": fp.valid}
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    if limit is not None:
        n = min(limit, arrays["indptr"].shape[0] - 1)
        e = int(arrays["indptr"][n])
        arrays = {
            "indptr": arrays["indptr"][: n + 1],
            "ids": arrays["ids"][:e],
            "counts": arrays["counts"][:e],
            "valid": arrays["valid"][:n],
        }
    return arrays, info


def ecfp_result(arrays, start: int = 0, stop: int | None = None):
    from sortslice import EcfpParams, EcfpResult

    indptr = arrays["indptr"]
    stop = indptr.shape[0] - 1 if stop is None else stop
    lo, hi = int(indptr[start]), int(indptr[stop])
    n = stop - start
    return EcfpResult(
        indptr[start : stop + 1] - lo,
        arrays["ids"][lo:hi],
        arrays["counts"][lo:hi],
        arrays["valid"][start:stop],
        np.full(n, None, dtype=object),
        EcfpParams(radius=2),
    )


def python_rows(arrays) -> list[list[int]]:
    """Each molecule's ids as a Python list; equal ids share one int object."""
    uniq, inverse = np.unique(arrays["ids"], return_inverse=True)
    objects = uniq.tolist()
    flat = list(map(objects.__getitem__, inverse.tolist()))
    del inverse
    ptr = arrays["indptr"].tolist()
    return [flat[ptr[i] : ptr[i + 1]] for i in range(len(ptr) - 1)]


# ----------------------------------------------------------------------------- references
def reference_fit(rows, length: int) -> list[int]:
    prevalence: Counter = Counter()
    for ids in rows:  # ids are unique within a molecule: counting them is document frequency
        prevalence.update(ids)
    return sorted(prevalence, key=lambda i: (prevalence[i], i), reverse=True)[:length]


def reference_dense(rows, vocabulary, length: int) -> np.ndarray:
    column = {i: j for j, i in enumerate(vocabulary)}
    get = column.get
    rr: list[int] = []
    cc: list[int] = []
    for r, ids in enumerate(rows):
        for i in ids:
            j = get(i)
            if j is not None:
                rr.append(r)
                cc.append(j)
    out = np.zeros((len(rows), length), dtype=np.uint8)
    out[np.array(rr, dtype=np.int64), np.array(cc, dtype=np.int64)] = 1
    return out


def reference_sparse(rows, vocabulary, length: int):
    import scipy.sparse as sp

    column = {i: j for j, i in enumerate(vocabulary)}
    get = column.get
    indptr = [0]
    indices: list[int] = []
    for ids in rows:
        indices.extend(sorted(j for j in map(get, ids) if j is not None))
        indptr.append(len(indices))
    indices_a = np.array(indices, dtype=np.int32)
    return sp.csr_matrix(
        (np.ones(len(indices_a), dtype=np.uint8), indices_a, np.array(indptr, dtype=np.int64)),
        shape=(len(rows), length),
    )


def authors_transform(rows, ranked: list[int], length: int) -> np.ndarray:
    """The stand-alone featuriser's per-molecule transform (binary), on precomputed ids."""

    def one_hot(i):
        if i in ranked[0:length]:
            v = np.zeros(length, dtype=int)
            v[ranked.index(i)] = 1
            return v
        return np.zeros(length)

    return np.stack([np.sum(np.array([one_hot(i) for i in ids]), axis=0) if ids else np.zeros(length) for ids in rows])


def first_touch(n_rows: int, length: int) -> np.ndarray:
    """What any dense output costs before a single id is looked up: allocating and faulting it in."""
    out = np.zeros((n_rows, length), dtype=np.uint8)
    out.reshape(-1)[::4096] = 1
    return out


# ---------------------------------------------------------------------------------- timing
def interleaved(cases: dict, repeats: int):
    """Wall and CPU times of every case, ``repeats`` rounds, the order rotating each round."""
    names = list(cases)
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            cases[name]()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return wall, cpu


def med(xs):
    return statistics.median(xs)


def fmt_s(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def machine() -> dict:
    return {
        "cpu": cpu_name("?"),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }


# ------------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="rounds on the whole set (default 3)")
    ap.add_argument("--sample", type=int, default=5000, help="molecules for the authors' transform (default 5000)")
    ap.add_argument("--sample-repeats", type=int, default=5, help="rounds on the sample (default 5)")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N molecules (quick looks)")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "sortslice_bench")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "pooling.md")
    args = ap.parse_args(argv)

    import numba
    import rdkit

    import sortslice

    started = time.perf_counter()
    load_before = load_average()
    arrays, info = load_ids(args.cache_dir, args.limit)
    fp = ecfp_result(arrays)
    n = len(fp)
    print(f"{n:,} molecules, {fp.ids.shape[0]:,} ids ({info['cache']})", flush=True)

    # first calls in this process (Numba's on-disk cache warm): load/compile cost, untimed below
    t0 = time.perf_counter()
    warm = sortslice.SortSlice(length=LENGTH).fit(ecfp_result(arrays, 0, 1000))
    warm.transform(ecfp_result(arrays, 0, 1000))
    sortslice.SortSlice(length=LENGTH, sparse=True).fit(ecfp_result(arrays, 0, 1000)).transform(
        ecfp_result(arrays, 0, 1000)
    )
    first_call_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows = python_rows(arrays)
    prep_s = time.perf_counter() - t0
    print(f"python id lists prepared in {prep_s:.1f} s", flush=True)

    # ---- correctness once, outside the timings
    ours = sortslice.SortSlice(length=LENGTH).fit(fp)
    ours_sparse = sortslice.SortSlice(length=LENGTH, sparse=True).fit(fp)
    vocabulary = reference_fit(rows, LENGTH)
    assert ours.vocabulary_.tolist() == vocabulary, "fit differs from the Counter reference"
    n_distinct = ours.n_distinct_ids_
    dense_ours = ours.transform(fp)
    assert np.array_equal(dense_ours, reference_dense(rows, vocabulary, LENGTH)), "dense transform differs"
    sparse_ours = ours_sparse.transform(fp)
    ref_sparse = reference_sparse(rows, vocabulary, LENGTH)
    assert (sparse_ours != ref_sparse).nnz == 0 and sparse_ours.has_sorted_indices, "sparse transform differs"
    assert np.array_equal(sparse_ours.toarray()[:1000], dense_ours[:1000])
    nnz = int(sparse_ours.nnz)
    del dense_ours, sparse_ours, ref_sparse
    ranked = sorted(Counter(i for r in rows for i in r).items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    ranked = [i for i, _ in ranked]
    s = min(args.sample, n)
    sample_fp, sample_rows = ecfp_result(arrays, 0, s), rows[:s]
    assert np.array_equal(
        authors_transform(sample_rows, ranked, LENGTH).astype(np.int64), ours.transform(sample_fp).astype(np.int64)
    ), "authors' transform differs"
    print("outputs checked equal", flush=True)

    # ---- timings
    sink = {}
    big = {
        "fit: ours SortSlice.fit": lambda: sink.__setitem__(0, sortslice.SortSlice(length=LENGTH).fit(fp)),
        "fit: Counter reference": lambda: sink.__setitem__(0, reference_fit(rows, LENGTH)),
        "dense uint8: ours transform": lambda: sink.__setitem__(0, ours.transform(fp)),
        "dense uint8: dict reference": lambda: sink.__setitem__(0, reference_dense(rows, vocabulary, LENGTH)),
        "dense uint8: floor (a fresh n x L uint8 matrix, one write per 4 KiB page)": lambda: sink.__setitem__(
            0, first_touch(n, LENGTH)
        ),
        "sparse CSR: ours transform": lambda: sink.__setitem__(0, ours_sparse.transform(fp)),
        "sparse CSR: dict reference": lambda: sink.__setitem__(0, reference_sparse(rows, vocabulary, LENGTH)),
    }
    # one family at a time (the matrices are 1.6 GB each), interleaved within the family
    wall, cpu = {}, {}
    for family in ("fit", "dense", "sparse"):
        cases = {k: v for k, v in big.items() if k.startswith(family)}
        w, c = interleaved(cases, args.repeats)
        wall.update(w)
        cpu.update(c)
        sink.clear()
        print(family, {k: round(med(v), 3) for k, v in w.items()}, flush=True)
    small = {
        "sample: ours dense transform": lambda: ours.transform(sample_fp),
        "sample: dict reference dense": lambda: reference_dense(sample_rows, vocabulary, LENGTH),
        "sample: authors' list.index transform": lambda: authors_transform(sample_rows, ranked, LENGTH),
    }
    w, c = interleaved(small, args.sample_repeats)
    wall.update(w)
    cpu.update(c)
    print("sample", {k: round(med(v), 4) for k, v in w.items()}, flush=True)
    load_after = load_average()
    total_s = time.perf_counter() - started

    # ---- report
    def ratio(ref, ours_):
        return med(wall[ref]) / med(wall[ours_])

    def cpu_ratio(ref, ours_):
        return med(cpu[ref]) / med(cpu[ours_])

    targets = [
        ("fit (prevalence + sort)", "fit: ours SortSlice.fit", "fit: Counter reference", TARGET),
        ("transform to dense uint8", "dense uint8: ours transform", "dense uint8: dict reference", TARGET),
        ("transform to sparse CSR", "sparse CSR: ours transform", "sparse CSR: dict reference", None),
        (
            f"transform, {s:,}-molecule sample, vs the authors' approach",
            "sample: ours dense transform",
            "sample: authors' list.index transform",
            None,
        ),
        (
            f"transform, {s:,}-molecule sample, vs the dict reference",
            "sample: ours dense transform",
            "sample: dict reference dense",
            None,
        ),
    ]
    m = machine()
    cmd = "python perf/bench_pooling.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    lines = [
        "# Pooling benchmark: Sort & Slice fit and transform (MOSES train, ECFP4, L = 1024)",
        "",
        f"Command: `{cmd}`  ",
        f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; wall time of the whole script: {total_s:.0f} s  ",
        f"Machine: {m['cpu']} x {m['cores']} cores (usable), {platform.system()} {platform.release()}; "
        f"load average before/after: {load_before} / {load_after}  ",
        f"{versions('NumPy', 'SciPy', 'Numba')} (threading layer {numba.threading_layer()}, "
        f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}), RDKit {rdkit.__version__}  ",
        f"sortslice {sortslice.__version__} at {git_commit(dirty=True)}  ",
        f"Data: {n:,} molecules of `{SOURCE}`, {fp.ids.shape[0]:,} (molecule, id) pairs, {n_distinct:,} distinct "
        f"ids; {nnz:,} nonzeros in the {n:,} x {LENGTH} output.  ",
        "Ids: "
        + (
            f"computed in this run with `sortslice.ecfp(smiles, n_jobs=2)` in {info['ecfp_s']:.0f} s"
            if info["ecfp_s"] is not None
            else "loaded from the cache written by an earlier run (`sortslice.ecfp(smiles, n_jobs=2)`)"
        )
        + f": `{info['cache']}`  ",
        f"Untimed: first calls of our kernels in this process (on-disk Numba cache warm) {first_call_s:.2f} s; "
        f"preparing the Python id lists {prep_s:.0f} s.  ",
        f"Repeats: {args.repeats} rounds on the whole set, {args.sample_repeats} on the sample, interleaved (order "
        "rotated each round); times are medians; ratios are ratios of medians. CPU = this process's CPU time, "
        "all threads.",
        "",
        "## Targets",
        "",
        "| Comparison | Ours | Reference | Speed-up (wall) | Speed-up (CPU) | Target | Met |",
        "|---|---:|---:|---:|---:|---|:---:|",
    ]
    for label, o, r, target in targets:
        x = ratio(r, o)
        met = "—" if target is None else ("yes" if x >= target else "**NO**")
        lines.append(
            f"| {label} | {fmt_s(med(wall[o]))} | {fmt_s(med(wall[r]))} | {x:.1f}x | "
            f"{cpu_ratio(r, o):.1f}x | {'—' if target is None else f'>= {target:.0f}x'} | {met} |"
        )
    lines += [
        "",
        "## All measurements",
        "",
        "| Measurement | Median | Min | Max | Runs | Molecules/s (median) | CPU (median) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in wall:
        k = s if name.startswith("sample") else n
        lines.append(
            f"| {name} | {fmt_s(med(wall[name]))} | {fmt_s(min(wall[name]))} | {fmt_s(max(wall[name]))} | "
            f"{len(wall[name])} | {k / med(wall[name]):,.0f} | {fmt_s(med(cpu[name]))} |"
        )
    floor = next(k for k in wall if k.startswith("dense uint8: floor"))
    lines += [
        "",
        "Every reference's output was checked equal to ours (vocabulary, dense matrix, CSR, and the "
        "authors' transform on the sample) before timing.",
        "",
        f"The dense floor row is the cost of the output alone ({n:,} x {LENGTH} bytes, allocated and faulted "
        f"in): {fmt_s(med(wall[floor]))} wall, {fmt_s(med(cpu[floor]))} CPU. Both ours and the dict "
        "reference pay it, so it bounds the dense speed-up at about (reference) / (floor).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
