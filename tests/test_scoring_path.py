"""The low-latency path (transform_one / transform_many), warmup and the kernel cache location."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import sortslice

from datasets import PAPER, paper_smiles, paper_table
from helpers import EDGE


@pytest.fixture(scope="module")
def paper_molecules():
    smiles = []
    for name in PAPER:
        smiles += paper_smiles(name)
    return smiles


@pytest.mark.parametrize("every", [15, pytest.param(1, marks=pytest.mark.slow)], ids=["sample", "all"])
@pytest.mark.parametrize(
    "make",
    [
        lambda: sortslice.SortSlice(length=1024, chirality=True),
        lambda: sortslice.SortSlice(length=512, radius=3, counts=True),
        lambda: sortslice.HashFold(length=2048, chirality=True),
    ],
)
def test_transform_one_equals_batch_transform_on_paper_data(paper_molecules, make, every):
    f = make()
    f.fit(paper_molecules[::14])
    items = paper_molecules[::every]
    batch = f.transform(items)
    one = np.stack([f.transform_one(s) for s in items])
    assert one.dtype == batch.dtype
    assert np.array_equal(one, batch)


def test_transform_one_fcfp_mols_edge_cases_and_invalid():
    smiles, y = paper_table("ames")
    f = sortslice.MIM(length=256, invariants="fcfp", chirality=True).fit(smiles[:1500], y[:1500])
    items = list(EDGE.values()) + ["not a smiles", "", None, 7] + smiles[1500:1700]
    batch = f.transform(items)
    assert np.array_equal(np.stack([f.transform_one(m) for m in items]), batch)
    assert np.array_equal(f.transform_many(items), batch)


def test_transform_one_strict_and_out_buffer():
    f = sortslice.HashFold(length=64, strict=True).fit()
    with pytest.raises(sortslice.InvalidMoleculeError, match="row 0: invalid SMILES"):
        f.transform_one("C1CC")
    buf = np.full(64, 9, dtype=np.uint8)
    res = f.transform_one("CCO", out=buf)
    assert res is buf and np.array_equal(buf, f.transform(["CCO"])[0])
    with pytest.raises(ValueError, match="out must be"):
        f.transform_one("CCO", out=np.zeros(3, dtype=np.uint8))


def test_set_params_resets_the_prepared_constants():
    f = sortslice.HashFold(length=32).fit()
    a = f.transform_one("c1ccccc1O")
    f.set_params(length=16)
    b = f.transform_one("c1ccccc1O")
    assert a.shape == (32,) and b.shape == (16,)
    assert np.array_equal(b, f.transform(["c1ccccc1O"])[0])


def test_threads_scoring_concurrently_match_serial(paper_molecules):
    f = sortslice.SortSlice(length=1024, chirality=True).fit(paper_molecules[:1500])
    items = paper_molecules[3000:5000]
    serial = np.stack([f.transform_one(s) for s in items])
    chunks = [items[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as ex:
        parts = list(ex.map(lambda ch: np.stack([f.transform_one(s) for s in ch]), chunks))
    together = np.empty_like(serial)
    for i, p in enumerate(parts):
        together[i::4] = p
    assert np.array_equal(together, serial)
    with ThreadPoolExecutor(4) as ex:
        batches = list(ex.map(lambda ch: f.transform(ch), chunks))
    for i, b in enumerate(batches):
        assert np.array_equal(b, serial[i::4])


WARM_THEN_WORK = """
import json, sys
import numpy as np
import sortslice
from sortslice.engine import _jit

before = sum(len(k.signatures) for k in _jit.KERNELS)
report = sortslice.warmup()
warm = {id(k): len(k.signatures) for k in _jit.KERNELS}
# what real use runs after the warmup: every featuriser, dense and sparse, ECFP options, the scoring path,
# read-only (Arrow) buffers, molecules beyond one 64-bond word, parsing processes
smiles = json.loads(sys.argv[1])
y = np.arange(len(smiles)) % 2
for kw in ({}, {"chirality": True, "radius": 3}, {"invariants": "fcfp", "bond_types": False}):
    fp = sortslice.ecfp(smiles, **kw)
    for cls in (sortslice.SortSlice, sortslice.HashFold):
        for counts in (False, True):
            f = cls(length=64, counts=counts, **kw).fit(smiles)
            f.transform(smiles), f.set_params(sparse=True).transform(fp), f.transform_one(smiles[3])
sortslice.MIM(length=8).fit(smiles, y).transform(smiles)
sortslice.Filtering(length=8).fit(smiles, y).transform(smiles)
sortslice.ecfp(smiles * 700, n_jobs=2)
ro = sortslice.ecfp(smiles)
for a in (ro.indptr, ro.ids, ro.counts):
    a.flags.writeable = False
sortslice.SortSlice(length=16).fit(ro).transform(ro)
new = [k.__name__ for k in _jit.KERNELS if len(k.signatures) > warm.get(id(k), 0)]
print(json.dumps({"before": before, "reported": [n for n, _ in report.compiled], "new": new, "text": str(report)}))
"""


def test_warmup_leaves_nothing_to_compile_for_real_use():
    """In a fresh process: after ``warmup()`` a representative workload compiles (or loads) no kernel."""
    smiles = [
        "CCO",
        "c1ccccc1C[C@H](N)C(=O)O",
        "F/C=C/F",
        "CC(=O)Nc1ccc(O)cc1",
        "[2H]C([13CH3])[O-].[Na+]",
        "C1" + "C" * 80 + "C1",
        "N->[Pt](<-N)(Cl)Cl",
        "not a smiles",
        "",
        "O=C(O)c1ccccc1O",
    ]
    res = subprocess.run(
        [sys.executable, "-c", WARM_THEN_WORK, json.dumps(smiles)], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["before"] == 0, "kernels were compiled before warmup ran"
    assert out["new"] == [], f"kernels still compiled after warmup: {out['new']}"
    assert out["reported"] and f"{len(out['reported'])} kernels ready in" in out["text"]


def test_cache_dir_policy(monkeypatch, tmp_path):
    from sortslice.engine import _jit

    monkeypatch.delenv("SORTSLICE_CACHE_DIR", raising=False)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _jit.cache_dir() is None  # package folder writable: Numba's default
    monkeypatch.setattr(_jit, "_writable", lambda folder: "xdg" in folder)
    assert _jit.cache_dir() == str(tmp_path / "xdg" / "sortslice" / "numba")
    monkeypatch.setattr(_jit, "_writable", lambda folder: "sortslice-numba-" in folder)
    assert "sortslice-numba-" in _jit.cache_dir()
    monkeypatch.setenv("SORTSLICE_CACHE_DIR", str(tmp_path / "mine"))
    assert _jit.cache_dir() == str(tmp_path / "mine")


#: what the two processes run in a read-only install: one small kernel, or (slow: a cold compile of every
#: kernel ``ecfp`` needs, ~15 s) the whole fingerprint path
READ_ONLY_RUNS = {
    "one kernel": """
        import json, numpy as np, sortslice
        from sortslice.engine import _jit
        from sortslice.engine.hashing import hash_pair as k
        value = [int(k(np.uint32(7), np.uint32(11)))]
    """,
    "ecfp": """
        import json, sortslice
        from sortslice.engine import _jit
        from sortslice.engine.morgan import _morgan_small as k
        # chirality: the kernels answer (a small plain first call would be answered before they exist)
        value = sortslice.ecfp(["CCO", "c1ccccc1"], chirality=True).ids.tolist()
    """,
}


def _in_process(what):
    if what == "ecfp":
        return sortslice.ecfp(["CCO", "c1ccccc1"], chirality=True).ids.tolist()
    from sortslice.engine.hashing import hash_pair

    return [int(hash_pair(np.uint32(7), np.uint32(11)))]


@pytest.mark.parametrize("what", ["one kernel", pytest.param("ecfp", marks=pytest.mark.slow)])
def test_kernel_cache_works_when_the_package_folder_is_read_only(tmp_path, what):
    """A read-only bind mount over the engine folder (works for root too): kernels are cached in the
    user cache folder instead and a second process loads them from there."""
    import sortslice.engine as eng

    engine_dir = Path(eng.__file__).parent
    home = tmp_path / "home"
    home.mkdir()
    script = textwrap.dedent(READ_ONLY_RUNS[what]) + textwrap.dedent("""
        print(json.dumps({"cache": _jit.cache_dir(), "value": value,
                          "hits": sum(k.stats.cache_hits.values()), "misses": sum(k.stats.cache_misses.values())}))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "SORTSLICE_CACHE_DIR", "XDG_CACHE_HOME")}
    env["HOME"] = str(home)
    cmd = [
        "unshare",
        "-m",
        "sh",
        "-c",
        f'mount --bind -o ro "{engine_dir}" "{engine_dir}" && exec "{sys.executable}" -c "$0"',
        script,
    ]
    runs = []
    for _ in range(2):
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert res.returncode == 0, f"needs root and unshare(1) to make a read-only mount: {res.stderr[-2000:]}"
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    expected = str(home / ".cache" / "sortslice" / "numba")
    assert runs[0]["cache"] == expected and runs[1]["cache"] == expected
    assert list(Path(expected).rglob("*.nbk")), "no kernel was cached"
    assert runs[0]["misses"] >= 1, "the first process should have compiled (an empty cache folder)"
    assert runs[1]["misses"] == 0 and runs[1]["hits"] >= 1
    assert runs[0]["value"] == runs[1]["value"] == _in_process(what)


def test_first_call_does_not_import_scipy_linalg_and_numba_blas_still_works():
    """Numba's module-level BLAS probe is answered without importing scipy.linalg; real BLAS use still works."""
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import sortslice
        m = sortslice.SortSlice(length=8).fit(["CCO", "c1ccccc1O"])
        row = m.transform_one("CCN")
        print("linalg-after-first-call", "scipy.linalg" in sys.modules)
        import numba
        import numba.np.arraymath

        # the probe's answer is what Numba's own check gives (it picks np.cov's BLAS path)
        print("have-blas", numba.np.arraymath._HAVE_BLAS, numba.np.linalg.ensure_blas._sortslice_deferred)

        @numba.njit
        def dot(a, b):
            return np.dot(a, b)

        print("dot", dot(np.arange(3.0), np.arange(3.0)), "linalg", "scipy.linalg" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "linalg-after-first-call False" in out.stdout
    assert "have-blas True True" in out.stdout  # SciPy is installed here, so Numba has BLAS
    # a real np.dot compile runs Numba's real ensure_blas, which imports scipy.linalg's BLAS
    assert "dot 5.0 linalg True" in out.stdout
