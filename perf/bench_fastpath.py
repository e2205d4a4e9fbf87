"""The certified SMILES fast path against the RDKit route and RDKit's own generator (issue 27).

Per data set, in one process, rounds interleaved (the machine drifts): wall time of

* ``ecfp(smiles)``              (``parser="auto"``: fast path, RDKit for the rest; all cores)
* ``ecfp(smiles, parser="rdkit")`` (every molecule parsed by RDKit; all cores)
* RDKit alone: ``Chem.MolFromSmiles`` + ``GetSparseCountFingerprint`` per molecule (one core, as people
  write it; its per-core figure is quoted too)
* SortSlice fit + transform from SMILES, auto vs rdkit vs Sort & Slice written on RDKit (parse, generator,
  ``Counter``, dict lookup; one core)
* ``transform_one`` p50 over single calls, auto vs rdkit vs RDKit's generator + vocabulary lookup

and the share of molecules the fast path takes.  Outputs of the two routes are checked equal.

    python perf/bench_fastpath.py [--sets moses_test,nci] [--rounds 3] [--out perf/results/fastpath.md]

Sets: ``moses_test`` (176k MOSES test, from ``../shared/data/large``), ``zinc``, ``chembl``, ``nci`` (RDKit's
``Data/NCI/first_5K.smi``: charges, metals, a diverse set), ``pubchem`` (the PubChem examples RDKit ships
in ``Contrib/NIBRSubstructureFilters``, written by PubChem in Kekulé form: charges, metals, salts).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from _harness import cpu_name, git_commit, load_average, versions  # noqa: E402


def load(name: str) -> list[str]:
    from rdkit import RDConfig

    from datasets import large_path, rdkit_nci

    if name == "nci":
        return rdkit_nci()
    if name == "pubchem":
        path = Path(
            RDConfig.RDContribDir, "NIBRSubstructureFilters", "SubstructureFilter_HitTriaging_wPubChemExamples.csv"
        )
        with open(path, newline="") as fh:  # EX1..EX5: PubChem's SMILES (Kekulé form) of each pattern's hits
            rows = list(csv.DictReader(fh))
        return [r[f"EX{k}"] for r in rows for k in range(1, 6) if r.get(f"EX{k}")]
    file = {"moses_test": "moses_test.csv.gz", "zinc": "zinc_50k.smi.gz", "chembl": "chembl20_chiral_10k.smi.gz"}[name]
    with gzip.open(large_path(file), "rt") as fh:
        lines = [line.strip() for line in fh if line.strip()]
    if file.endswith(".csv.gz"):
        return lines[1:]
    return [line.split()[0] for line in lines]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def rdkit_alone(texts):
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2)
    for s in texts:
        m = Chem.MolFromSmiles(s)
        if m is not None:
            gen.GetSparseCountFingerprint(m).GetNonzeroElements()


def rdkit_sort_slice(texts, length: int = 2048):
    """Sort & Slice written directly on RDKit (one core): parse + Morgan generator per molecule, prevalence with
    a ``Counter``, the ``length`` most prevalent ids, a dense matrix by dict lookup."""
    from collections import Counter

    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2)
    fps = []
    for s in texts:
        m = Chem.MolFromSmiles(s)
        fps.append(gen.GetSparseCountFingerprint(m).GetNonzeroElements() if m is not None else {})
    df = Counter(i for fp in fps for i in fp)
    vocab = sorted(df, key=lambda i: (-df[i], -i))[:length]
    cols = {i: c for c, i in enumerate(vocab)}
    X = np.zeros((len(texts), length), dtype=np.uint8)
    for r, fp in enumerate(fps):
        for i in fp:
            c = cols.get(i)
            if c is not None:
                X[r, c] = 1
    return X


def latency(texts, n: int):
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    import sortslice

    train = texts[: min(len(texts), 20_000)]
    auto = sortslice.SortSlice(length=2048).fit(train)
    ref = sortslice.SortSlice(length=2048, parser="rdkit").fit(train)
    cols = {int(i): c for c, i in enumerate(auto.vocabulary_)}
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2)

    def rdkit_one(s):
        v = np.zeros(2048, dtype=np.uint8)
        m = Chem.MolFromSmiles(s)
        if m is not None:
            for i in gen.GetSparseCountFingerprint(m).GetNonzeroElements():
                c = cols.get(i)
                if c is not None:
                    v[c] = 1
        return v

    calls = texts[:n]
    for s in calls[:200]:  # warm
        auto.transform_one(s), ref.transform_one(s), rdkit_one(s)
    times = {"auto": [], "rdkit route": [], "RDKit generator": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in calls:
            for name, fn in (
                ("auto", auto.transform_one),
                ("rdkit route", ref.transform_one),
                ("RDKit generator", rdkit_one),
            ):
                t = time.perf_counter()
                fn(s)
                times[name].append(time.perf_counter() - t)
    for s in calls[:500]:
        assert np.array_equal(auto.transform_one(s), rdkit_one(s)), s
    return {k: 1e6 * statistics.median(v) for k, v in times.items()}


def bench(name: str, rounds: int, latency_calls: int) -> list[str]:
    import sortslice

    texts = load(name)
    n = len(texts)
    sortslice.ecfp(texts[:2000])  # load the kernels
    sortslice.ecfp(texts[:2000], parser="rdkit")
    rows = {k: [] for k in ("auto", "rdkit", "alone", "fit_auto", "fit_rdkit", "fit_alone")}
    share = None
    for _ in range(rounds):
        t, a = timed(lambda: sortslice.ecfp(texts))
        rows["auto"].append(t)
        share = a.routes["fast"] / n
        t, b = timed(lambda: sortslice.ecfp(texts, parser="rdkit"))
        rows["rdkit"].append(t)
        assert np.array_equal(a.ids, b.ids) and np.array_equal(a.counts, b.counts) and np.array_equal(a.valid, b.valid)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, xa = timed(lambda: sortslice.SortSlice(length=2048).fit(texts).transform(texts))
            rows["fit_auto"].append(t)
            t, xb = timed(lambda: sortslice.SortSlice(length=2048, parser="rdkit").fit(texts).transform(texts))
            rows["fit_rdkit"].append(t)
        assert np.array_equal(xa, xb)
        sub = texts[: min(n, 20_000)]
        t, _ = timed(lambda: rdkit_alone(sub))
        rows["alone"].append(t * n / len(sub))
        t, _ = timed(lambda: rdkit_sort_slice(sub))
        rows["fit_alone"].append(t * n / len(sub))
    med = {k: statistics.median(v) for k, v in rows.items()}
    lat = latency(texts, latency_calls)
    us = lambda s: 1e6 * s / n  # noqa: E731
    return [
        f"| {name} | {n:,} | {100 * share:.2f} % | {us(med['auto']):.1f} | {us(med['rdkit']):.1f} | "
        f"**{med['rdkit'] / med['auto']:.1f}x** | {us(med['alone']):.1f} ({med['alone'] / med['auto']:.1f}x) | "
        f"{med['fit_auto']:.2f} / {med['fit_rdkit']:.2f} / {med['fit_alone']:.2f} s "
        f"({med['fit_rdkit'] / med['fit_auto']:.1f}x / {med['fit_alone'] / med['fit_auto']:.1f}x) | "
        f"{lat['auto']:.0f} / {lat['rdkit route']:.0f} / {lat['RDKit generator']:.0f} |"
    ]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="moses_test,nci,pubchem")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-calls", type=int, default=3000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    lines = [
        "# Certified SMILES fast path vs the RDKit route",
        "",
        f"`python perf/bench_fastpath.py --sets {args.sets} --rounds {args.rounds}` at {git_commit(True)}; "
        f"{cpu_name()}; load {load_average()}; {versions('rdkit', 'numba', 'numpy')}.",
        "",
        "Medians of the rounds, all cores (2) unless said; ids, counts and validity of the two routes checked "
        "equal in every round. RDKit alone = `MolFromSmiles` + `GetSparseCountFingerprint` on one core "
        "(measured on the first 20k, scaled). transform_one: p50 µs of single calls, fast path / RDKit route / "
        "RDKit's generator + a dict lookup into the same vocabulary. SortSlice fit+transform (L = 2048, dense): "
        "auto / RDKit route / Sort & Slice written on RDKit (one core, first 20k scaled) and the speed-ups.",
        "",
        '| set | molecules | fast path share | `ecfp` µs/mol | `parser="rdkit"` µs/mol | speed-up | RDKit alone µs/mol '
        "(vs ours) | SortSlice fit+transform auto / rdkit | transform_one p50 µs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in args.sets.split(","):
        lines += bench(name, args.rounds, args.latency_calls)
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
