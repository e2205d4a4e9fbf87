"""Flatten stage: molecules in, one :class:`~sortslice.engine.graph.MolGraph` (CSR arrays) out.

Text is parsed by worker processes for large batches (``processes``) or here; every molecule is
exported with ``Mol.ToBinary()`` and read by the compiled pickle reader (``graph``), with RDKit's per-atom
API for the molecules it does not handle. Rows stay aligned with the input; invalid rows carry a reason.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np

from . import fastpath, molpickle, parallel
from ._jit import ro
from .graph import (
    MolGraph,
    build_neighbours,
    concat_graphs,
    graph_from_mols_exact,
    graph_from_pickles,
    take_rows,
    to_pickles,
)
from .parse import MAX_ATOMS, MAX_RINGS, chiral_cip_terms, classify, parse_in_process, rdkit_error, size_problem
from .processes import iter_parse_parallel


@dataclass
class Flattened:
    graph: MolGraph
    valid: np.ndarray
    errors: np.ndarray
    #: per row, whether the SMILES fast path parsed it (``None``: every row took RDKit)
    fast: np.ndarray | None = None


def iter_flatten(
    molecules,
    *,
    chirality: bool = False,
    fcfp: bool = False,
    n_jobs: int | None = None,
    kind: str = "smiles",
    chunk_size: int | None = None,
    parser: str = "auto",
):
    """Flatten in chunks: yields ``(first_row, Flattened)`` in input order.

    Large all-text batches are parsed by ``n_jobs`` worker processes while the
    caller works on the chunks already returned (the pipeline overlaps parsing and
    the kernels).  With ``parser="auto"`` SMILES take the certified fast path where it serves
    (:mod:`.fastpath`), RDKit the rest.  Results never depend on ``n_jobs``, ``chunk_size`` or ``parser``.
    """
    if fastpath.serves(parser=fastpath.check_parser(parser), chirality=chirality, fcfp=fcfp, kind=kind):
        yield from _iter_flatten_fast(molecules, n_jobs, chunk_size)
        return
    items, errors, mols, text_rows = classify(molecules)
    n = len(items)
    jobs = parallel.processes(n_jobs, len(text_rows))
    missing = [i for i, reason in errors.items() if reason == "missing molecule"]
    if jobs > 1 and len(text_rows) + len(missing) == n:
        # text with some missing values: workers report those rows as missing too
        for i in missing:
            items[i] = None
        # while workers parse, the main process runs the kernels single-threaded
        start = 0
        for ch in iter_parse_parallel(kind, items, chirality, fcfp, jobs, chunk_size):
            m = ch["lengths"].shape[0]
            fcfp_by_row = None
            if fcfp:
                fl = ch["fcfp_lengths"]
                fo = np.concatenate([[0], np.cumsum(fl)])
                fcfp_by_row = {int(k): ch["fcfp"][fo[k] : fo[k + 1]] for k in np.flatnonzero(fl)}
            flat = _assemble(
                m,
                ch["lengths"],
                np.frombuffer(ch["buf"], dtype=np.uint8),
                ch["errors"],
                ch["cip"],
                fcfp_by_row,
                {},
                items[start : start + m],
                chirality,
                fcfp,
                kind,
                1,
            )
            yield start, flat
            start += m
        return
    threads = parallel.threads(n_jobs)
    if chunk_size is None or not 0 < chunk_size < n:
        # one piece: Mol.ToBinary releases the GIL, so to_pickles and the kernels are each threaded
        parsed, perr = parse_in_process(kind, items, text_rows)
        mols.update(parsed)
        errors.update(perr)
        yield 0, _in_process_chunk(0, n, items, mols, errors, chirality, fcfp, kind, threads)
        return
    # pieces of ``chunk_size`` rows, each parsed when its turn comes: the caller sees progress (and can
    # stop) after every piece, and only one piece's Mols are alive at a time
    mol_rows, error_rows = sorted(mols), sorted(errors)
    for start in range(0, n, int(chunk_size)):
        stop = min(n, start + int(chunk_size))
        parsed, perr = parse_in_process(
            kind, items, text_rows[bisect_left(text_rows, start) : bisect_left(text_rows, stop)]
        )
        block_mols = {i - start: mols[i] for i in mol_rows[bisect_left(mol_rows, start) : bisect_left(mol_rows, stop)]}
        block_mols.update((i - start, m) for i, m in parsed.items())
        block_errors = {
            i - start: errors[i] for i in error_rows[bisect_left(error_rows, start) : bisect_left(error_rows, stop)]
        }
        block_errors.update((i - start, e) for i, e in perr.items())
        yield start, _in_process_chunk(start, stop, items, block_mols, block_errors, chirality, fcfp, kind, threads)


def _in_process_chunk(a: int, b: int, items, mols: dict, errors: dict, chirality, fcfp, kind, threads) -> Flattened:
    """Rows ``a:b`` of an in-process batch -> :class:`Flattened` (``mols``/``errors`` keyed from ``a``)."""
    order = sorted(mols)
    buf, poffs = to_pickles([mols[i] for i in order], threads)
    buf, poffs, order = _drop_oversized(buf, poffs, order, mols, errors, threads)
    lengths = np.zeros(b - a, dtype=np.int64)
    lengths[order] = np.diff(poffs)
    return _assemble(b - a, lengths, buf, errors, None, None, mols, items[a:b], chirality, fcfp, kind, threads)


def _drop_oversized(buf, offsets, order, mols, errors, threads):
    """Take molecules above the size limits (``MAX_ATOMS``, ``MAX_RINGS``) out of the pickles.

    Atom and bond counts come from the pickle headers; only a molecule with more bonds
    than ``MAX_RINGS`` (rings = bonds - atoms + fragments) or an unreadable header is asked
    of RDKit.  Each one dropped gets its reason in ``errors``.
    """
    n = offsets.shape[0] - 1
    if n == 0:
        return buf, offsets, order
    n_atoms = np.zeros(n, dtype=np.int64)
    n_bonds = np.zeros(n, dtype=np.int64)
    status = np.zeros(n, dtype=np.int8)
    molpickle.pickle_sizes(ro(buf), ro(offsets), n_atoms, n_bonds, status)
    ask = np.flatnonzero((status != molpickle.OK) | (n_atoms > MAX_ATOMS) | (n_bonds > MAX_RINGS))
    drop = []
    for j in ask.tolist():
        problem = size_problem(mols[order[j]])
        if problem is not None:
            errors[order[j]] = problem
            drop.append(j)
    if not drop:
        return buf, offsets, order
    keep = np.ones(n, dtype=bool)
    keep[drop] = False
    lengths = np.diff(offsets)[keep]
    byte_keep = np.repeat(keep, np.diff(offsets))
    new_offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    return buf[byte_keep], new_offsets, [order[j] for j in np.flatnonzero(keep).tolist()]


def flatten(
    molecules,
    *,
    chirality: bool = False,
    fcfp: bool = False,
    n_jobs: int | None = None,
    kind: str = "smiles",
    chunk_size: int | None = None,
    parser: str = "auto",
) -> Flattened:
    """Turn a batch of molecules into one :class:`MolGraph` plus per-row validity.

    ``molecules`` may mix SMILES strings (or mol blocks with ``kind="molblock"``),
    RDKit ``Mol`` objects and missing values.
    """
    parts = [
        f
        for _, f in iter_flatten(
            molecules, chirality=chirality, fcfp=fcfp, n_jobs=n_jobs, kind=kind, chunk_size=chunk_size, parser=parser
        )
    ]
    if len(parts) == 1:
        return parts[0]
    fast = None if all(p.fast is None for p in parts) else np.concatenate([fast_rows(p) for p in parts])
    return Flattened(
        concat_graphs([p.graph for p in parts]),
        np.concatenate([p.valid for p in parts]),
        np.concatenate([p.errors for p in parts]),
        fast,
    )


def fast_rows(flat: Flattened) -> np.ndarray:
    """The per-row fast-path mask of ``flat`` (all False when every row took RDKit)."""
    return flat.fast if flat.fast is not None else np.zeros(flat.valid.shape[0], dtype=bool)


#: rows a fast-path piece holds when the caller gives no ``chunk_size`` (the kernels of one piece run while
#: the next is parsed)
FAST_PIECE = 65_536


def _iter_flatten_fast(molecules, n_jobs, chunk_size):
    """:func:`iter_flatten` with the SMILES fast path: each piece's text rows go through the compiled
    parser; the rows it defers, ``Mol`` inputs and missing values take the RDKit route (worker processes
    when there are many), and the two are put back in row order."""
    items, _errors, _mols, text_rows = classify(molecules)
    if not fastpath.ready(len(text_rows)):
        yield from iter_flatten(items, n_jobs=n_jobs, chunk_size=chunk_size, parser="rdkit")
        return
    n = len(items)
    threads = parallel.threads(n_jobs)
    step = int(chunk_size) if chunk_size is not None and chunk_size > 0 else FAST_PIECE
    text = np.zeros(n, dtype=bool)
    text[text_rows] = True
    for start in range(0, max(n, 1), step):
        stop = min(n, start + step)
        m = stop - start
        rows = np.flatnonzero(text[start:stop])
        texts = items[start:stop] if rows.shape[0] == m else [items[start + int(r)] for r in rows]
        # neighbour lists are built once, after RDKit's rows are spliced in
        fp = fastpath.parse_smiles(texts, threads=threads, neighbours=False)
        taken = np.zeros(m, dtype=bool)
        taken[rows[fp.accepted]] = True
        rest = np.flatnonzero(~taken)
        if rest.size == 0:
            g = fp.graph
            g.nbr_ptr, g.nbr_atom, g.nbr_bond = build_neighbours(
                g.atom_ptr, g.bond_ptr, g.bond_begin, g.bond_end, threads=threads
            )
            yield start, Flattened(g, np.ones(m, dtype=bool), np.full(m, None, dtype=object), taken)
            continue
        other = flatten([items[start + int(r)] for r in rest], n_jobs=n_jobs, chunk_size=None, parser="rdkit")
        # rows of concat([fast graph (one row per text row), RDKit graph (one row per rest row)])
        order = np.empty(m, dtype=np.int64)
        order[rows] = np.arange(rows.shape[0])
        order[rest] = rows.shape[0] + np.arange(rest.shape[0])
        graph = take_rows(concat_graphs([fp.graph, other.graph]), order, threads=threads)
        valid = taken.copy()
        valid[rest] = other.valid
        errors = np.full(m, None, dtype=object)
        errors[rest] = other.errors
        yield start, Flattened(graph, valid, errors, taken)


def _assemble(n, lengths, buf, errors, cip_rows, fcfp_by_row, mols, items, chirality, fcfp, kind, threads):
    """Pickles (+ worker extras, or the Mols themselves) of ``n`` rows -> :class:`Flattened`."""
    errors = dict(errors)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    graph, status = graph_from_pickles(buf, offsets, threads=threads)
    has_record = lengths > 0
    fallback = np.flatnonzero(has_record & (status != molpickle.OK))

    na = graph.atomic_num.shape[0]
    cip = np.zeros(na, dtype=np.uint8) if chirality else None
    if chirality:
        if cip_rows is not None:
            r, a, t = cip_rows
            keep = status[r] == molpickle.OK
            cip[graph.atom_ptr[r[keep]] + a[keep]] = t[keep]
        else:
            # chiral tags come from the pickle: only molecules that have any need RDKit
            tagged = np.flatnonzero(graph.chiral_tag)
            if tagged.size:
                row_of = np.searchsorted(graph.atom_ptr, tagged, side="right") - 1
                for r in np.unique(row_of):
                    for a, t in chiral_cip_terms(mols[int(r)]):
                        cip[graph.atom_ptr[r] + a] = t
    feat = np.zeros(na, dtype=np.uint32) if fcfp else None
    if fcfp:
        from rdkit.Chem import rdMolDescriptors

        for r in np.flatnonzero(has_record & (status == molpickle.OK)):
            v = (
                fcfp_by_row[int(r)]
                if fcfp_by_row is not None
                else np.asarray(rdMolDescriptors.GetFeatureInvariants(mols[int(r)]), dtype=np.uint32)
            )
            feat[graph.atom_ptr[r] : graph.atom_ptr[r + 1]] = v
    graph.cip_term = cip
    graph.feature_inv = feat

    valid = has_record & (status == molpickle.OK)
    if fallback.size:
        graph, ok = _with_exact_rows(graph, fallback, mols, buf, offsets, chirality, fcfp, errors)
        valid[fallback[ok]] = True
    return Flattened(graph, valid, reasons(n, errors, valid))


def reasons(n: int, errors: dict, valid: np.ndarray) -> np.ndarray:
    """The ``errors`` column of ``n`` rows: each invalid row's reason from ``errors``, ``None`` where valid."""
    err = np.full(n, None, dtype=object)
    for i, reason in errors.items():
        err[i] = reason
    err[valid] = None
    return err


def _with_exact_rows(graph, rows, mols, buf, offsets, chirality, fcfp, errors):
    """Flatten ``rows`` through RDKit's per-atom API and splice them into ``graph``."""
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    ok = np.zeros(rows.shape[0], dtype=bool)
    sub_mols = []
    for j, r in enumerate(rows):
        r = int(r)
        try:
            mol = mols.get(r)
            if mol is None:
                mol = Chem.Mol(buf[offsets[r] : offsets[r + 1]].tobytes())
            g = graph_from_mols_exact([mol])
            if chirality:
                g.cip_term = np.zeros(g.atomic_num.shape[0], dtype=np.uint8)
                for a, t in chiral_cip_terms(mol):
                    g.cip_term[a] = t
            if fcfp:
                g.feature_inv = np.asarray(rdMolDescriptors.GetFeatureInvariants(mol), dtype=np.uint32)
            sub_mols.append(g)
            ok[j] = True
        except Exception as exc:  # a molecule RDKit itself cannot describe
            errors[r] = rdkit_error(exc)
    if not ok.any():
        return graph, ok
    good_rows = rows[ok]
    combined = concat_graphs([graph] + sub_mols)
    n = graph.n_molecules
    order = np.arange(n, dtype=np.int64)
    order[good_rows] = n + np.arange(good_rows.shape[0])
    return take_rows(combined, order), ok
