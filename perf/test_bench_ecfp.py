"""pytest-benchmark versions of sections (a) and (b) of ``perf/bench_ecfp.py`` (smaller samples).

    pytest perf/ --benchmark-only                      # all
    pytest perf/ --benchmark-only -k "a_"              # section (a) only

Benchmarks in the same group are directly comparable (``--benchmark-group-by=group``
is the default).  No timing assertions: the script reports targets; these only
check that what is timed gives RDKit's answer.
"""

from __future__ import annotations

import pytest

import sortslice
from sortslice.engine.fingerprint import EcfpParams, ids_from_graph

import bench_ecfp

RADIUS = bench_ecfp.RADIUS
ROUNDS = 5
THREADS = [1, 2]


def _run(benchmark, fn, *args, **kwargs):
    return benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=ROUNDS, iterations=1, warmup_rounds=1)


# ---------------------------------------------------------------- (a) Mols -> ids


@pytest.mark.parametrize("threads", THREADS)
def test_a_ours_ecfp(benchmark, mols_a, rdkit_gen, threads):
    benchmark.group = f"(a) {len(mols_a)} Mols -> ids, {threads} thread(s)"
    benchmark.extra_info["molecules"] = len(mols_a)
    res = _run(benchmark, sortslice.ecfp, mols_a, radius=RADIUS, n_jobs=threads)
    assert len(res) == len(mols_a) and res.valid.all()
    ref = rdkit_gen.GetSparseCountFingerprints(mols_a[:50], numThreads=1)
    assert all(res.to_dict(i) == ref[i].GetNonzeroElements() for i in range(50))


@pytest.mark.parametrize("threads", THREADS)
def test_a_ours_kernel_alone(benchmark, mols_a, graph_a, threads):
    benchmark.group = f"(a) {len(mols_a)} Mols -> ids, {threads} thread(s)"
    benchmark.extra_info["molecules"] = len(mols_a)
    indptr, ids, counts = _run(benchmark, ids_from_graph, graph_a, EcfpParams(radius=RADIUS), threads=threads)
    assert indptr.shape[0] == len(mols_a) + 1


@pytest.mark.parametrize("threads", THREADS)
def test_a_rdkit_generator(benchmark, mols_a, rdkit_gen, threads):
    benchmark.group = f"(a) {len(mols_a)} Mols -> ids, {threads} thread(s)"
    benchmark.extra_info["molecules"] = len(mols_a)
    fps = _run(benchmark, rdkit_gen.GetSparseCountFingerprints, mols_a, numThreads=threads)
    assert len(fps) == len(mols_a)


# ---------------------------------------------------------------- (b) SMILES -> ids


def test_b_ours_all_cores(benchmark, smiles_b, warm_pool, rdkit_gen):
    benchmark.group = f"(b) {len(smiles_b)} SMILES -> ids"
    benchmark.extra_info.update(molecules=len(smiles_b), n_jobs=warm_pool, pool="warmed by a small call")
    res = _run(benchmark, sortslice.ecfp, smiles_b, radius=RADIUS, n_jobs=warm_pool)
    assert len(res) == len(smiles_b)
    ref = bench_ecfp.rdkit_smiles_to_fps(smiles_b[:50], rdkit_gen)
    assert all(res.to_dict(i) == ref[i].GetNonzeroElements() for i in range(50))


def test_b_rdkit_single_process(benchmark, smiles_b, rdkit_gen):
    benchmark.group = f"(b) {len(smiles_b)} SMILES -> ids"
    benchmark.extra_info["molecules"] = len(smiles_b)
    fps = _run(benchmark, bench_ecfp.rdkit_smiles_to_fps, smiles_b, rdkit_gen)
    assert len(fps) == len(smiles_b)


def test_b_parse_floor(benchmark, smiles_b, floor_pool, cores):
    benchmark.group = f"(b) {len(smiles_b)} SMILES -> ids"
    benchmark.extra_info.update(molecules=len(smiles_b), processes=cores)
    chunks = bench_ecfp.chunks_of(smiles_b, bench_ecfp.default_chunk_size(len(smiles_b), cores))
    n = _run(benchmark, bench_ecfp.parse_floor, floor_pool, chunks)
    assert n == len(smiles_b)
