"""Stages 1-4 fused for one molecule: the low-latency path, one fingerprint row in a single compiled call.

Batch code amortises Python and kernel-launch overhead over many molecules; a
scoring service sees one molecule per request, so here the RDKit pickle reader,
the invariants, the Morgan iteration and the column lookup run fused in one serial
kernel (no thread launches, no intermediate Python objects).  Everything that does
not depend on the molecule (configuration, lookup table) is prepared once per
featuriser.  Molecules the fused reader declines (isotopes, query features, ...)
take the batch path, which gives identical results.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel
from .graph import neighbours_one, totals_one
from .hashing import bond_invariants, ecfp_invariants
from .molpickle import OK, parse_one, pickle_header
from .morgan import RANK_SORT_MAX, morgan_one, sort_unique_counts
from .pooling import column_of
from .smiles import ACCEPTED, DEFERRED, parse_smiles_block

NEEDS_BATCH_PATH = 100  # status: an isotope needs RDKit's mass table

# cfg layout (int64): radius, fcfp, chirality, bond_types, ring_membership, redundant, length, fold,
# use_counts, max_value
CFG_SIZE = 10


@kernel
def neighbour_lists_one(n, nb, bond_begin, bond_end):
    """One molecule's neighbour lists ``(nbr_ptr, nbr_atom, nbr_bond)`` from its bond list."""
    zero = np.int64(0)
    nbr_ptr = np.zeros(n + 1, dtype=np.int64)
    nbr_atom = np.zeros(2 * nb, dtype=np.int32)
    nbr_bond = np.zeros(2 * nb, dtype=np.int32)
    neighbours_one(
        zero, n, zero, nb, bond_begin, bond_end, nbr_ptr, nbr_atom, nbr_bond, np.empty(2 * n + 1, dtype=np.int64)
    )
    nbr_ptr[n] = 2 * nb
    return nbr_ptr, nbr_atom, nbr_bond


@kernel
def fingerprint_one(buf, cfg, cip_atoms, cip_terms, feature_inv, keys, cols, out):
    """Fill ``out`` (int64, zeroed by the caller; one compiled signature for every output dtype) with one
    molecule's pooled fingerprint; returns a status. Molecules of more than 64 bonds take the batch path,
    whose kernel for them is compiled only when one comes."""
    end = buf.shape[0]
    zero = np.int64(0)
    st, _version, n, nb, _p = pickle_header(buf, zero, end)
    if st != OK:
        return st
    if nb > 64:
        return NEEDS_BATCH_PATH
    atomic_num = np.zeros(n, dtype=np.int32)
    no_implicit = np.zeros(n, dtype=np.bool_)
    charge = np.zeros(n, dtype=np.int32)
    chiral_tag = np.zeros(n, dtype=np.uint8)
    explicit_hs = np.zeros(n, dtype=np.int32)
    implicit_valence = np.zeros(n, dtype=np.int32)
    isotope = np.zeros(n, dtype=np.uint32)
    in_ring = np.zeros(n, dtype=np.bool_)
    bond_begin = np.zeros(nb, dtype=np.int32)
    bond_end = np.zeros(nb, dtype=np.int32)
    bond_type = np.zeros(nb, dtype=np.int32)
    bond_stereo = np.zeros(nb, dtype=np.int32)
    st = parse_one(
        buf,
        zero,
        end,
        zero,
        zero,
        atomic_num,
        no_implicit,
        charge,
        chiral_tag,
        explicit_hs,
        implicit_valence,
        isotope,
        in_ring,
        bond_begin,
        bond_end,
        bond_type,
        bond_stereo,
    )
    if st != OK:
        return st
    for a in range(n):
        if isotope[a] != 0:
            return NEEDS_BATCH_PATH
    nbr_ptr, nbr_atom, nbr_bond = neighbour_lists_one(n, nb, bond_begin, bond_end)
    if cfg[1]:
        if feature_inv.shape[0] != n:
            return NEEDS_BATCH_PATH
        atom_inv = feature_inv
    else:
        total_degree = np.zeros(n, dtype=np.int32)
        total_hs = np.zeros(n, dtype=np.int32)
        totals_one(
            zero, n, nbr_ptr, nbr_atom, atomic_num, no_implicit, explicit_hs, implicit_valence, total_degree, total_hs
        )
        atom_inv = ecfp_invariants(
            atomic_num, total_degree, total_hs, charge, np.zeros(n, dtype=np.int32), in_ring, cfg[4] != 0
        )
    bond_inv = bond_invariants(bond_type, bond_stereo, cfg[3] != 0, cfg[2] != 0)
    chiral = np.zeros(n, dtype=np.uint8)
    if cfg[2]:
        for k in range(cip_atoms.shape[0]):
            if cip_atoms[k] >= n:
                return NEEDS_BATCH_PATH
            chiral[cip_atoms[k]] = cip_terms[k]
    return ids_pool_one(n, nb, atom_inv, chiral, nbr_ptr, nbr_atom, nbr_bond, bond_inv, cfg, keys, cols, out)


@kernel
def ids_pool_one(n, nb, atom_inv, chiral, nbr_ptr, nbr_atom, nbr_bond, bond_inv, cfg, keys, cols, out):
    """The Morgan iteration and the column lookup of one molecule's graph into ``out``; returns ``OK``."""
    radius = cfg[0]
    size = n * (radius + 1)
    ids = np.empty(size, dtype=np.uint32)
    counts = np.empty(size, dtype=np.uint32)
    dummy = np.empty(0, dtype=np.uint32)
    k = morgan_one(
        n,
        nb,
        atom_inv,
        chiral,
        nbr_ptr,
        nbr_atom,
        nbr_bond,
        bond_inv,
        radius,
        cfg[5] != 0,
        ids,
        dummy,
        dummy,
        np.bool_(False),
    )
    u = sort_unique_counts(ids[:k], counts[:k], np.empty(min(k, RANK_SORT_MAX), dtype=np.uint32))
    length = cfg[6]
    fold = cfg[7] != 0
    use_counts = cfg[8] != 0
    max_value = cfg[9]
    for j in range(u):
        c = column_of(keys, cols, ids[j], fold, length)
        if c >= 0:
            if use_counts:
                v = out[c] + np.int64(counts[j])
                out[c] = v if v <= max_value else max_value
            else:
                out[c] = 1
    return OK


@kernel
def fingerprint_graph_one(
    n, nb, atomic_num, total_degree, total_hs, charge, in_ring, bond_begin, bond_end, bond_type, cfg, keys, cols, out
):
    """:func:`fingerprint_one` from one molecule's arrays as the fast path's parser wrote them (achiral ECFP);
    returns ``OK``, or ``NEEDS_BATCH_PATH`` for more than 64 bonds."""
    if nb > 64:
        return NEEDS_BATCH_PATH
    nbr_ptr, nbr_atom, nbr_bond = neighbour_lists_one(n, nb, bond_begin, bond_end)
    atom_inv = ecfp_invariants(
        atomic_num[:n], total_degree[:n], total_hs[:n], charge[:n], np.zeros(n, dtype=np.int32), in_ring[:n],
        cfg[4] != 0,
    )  # fmt: skip
    bond_inv = bond_invariants(bond_type[:nb], np.zeros(nb, dtype=np.int32), cfg[3] != 0, False)
    return ids_pool_one(
        n, nb, atom_inv, np.zeros(n, dtype=np.uint8), nbr_ptr, nbr_atom, nbr_bond, bond_inv, cfg, keys, cols, out
    )


@kernel
def fingerprint_smiles_one(buf, gates, max_atoms, max_rings, cfg, keys, cols, out):
    """:func:`fingerprint_graph_one` straight from SMILES bytes through the fast path's parser (one call from
    Python); returns ``OK``, ``NEEDS_BATCH_PATH``, or ``DEFERRED`` when the parser defers the molecule."""
    m = buf.shape[0]
    blocks = np.zeros(2, dtype=np.int64)
    blocks[1] = 1
    offsets = np.zeros(2, dtype=np.int64)
    offsets[1] = m
    status = np.ones(1, dtype=np.int8)
    n_atoms = np.zeros(1, dtype=np.int64)
    n_bonds = np.zeros(1, dtype=np.int64)
    ints = np.empty((7, m), dtype=np.int32)
    in_ring = np.empty(m, dtype=np.bool_)
    first = np.int64(0)  # not literal constants: the batch's compiled signature serves this call too
    parse_smiles_block(
        blocks, first, first + 1, buf, offsets, gates, max_atoms, max_rings, status, n_atoms, n_bonds, ints[0], ints[1],
        ints[2], ints[3], in_ring, ints[4], ints[5], ints[6],
    )  # fmt: skip
    if status[0] != ACCEPTED:
        return DEFERRED
    return fingerprint_graph_one(
        n_atoms[0], n_bonds[0], ints[0], ints[1], ints[2], ints[3], in_ring, ints[4], ints[5], ints[6], cfg, keys,
        cols, out,
    )  # fmt: skip


def config(params, length: int, fold: bool, use_counts: bool, dtype: np.dtype) -> np.ndarray:
    """The per-featuriser constant part of a call (built once)."""
    if dtype.kind == "b":
        max_value = 1
    elif np.issubdtype(dtype, np.integer):
        max_value = int(np.iinfo(dtype).max)
    else:
        max_value = 2**62
    return np.array(
        [
            params.radius,
            params.invariants == "fcfp",
            params.chirality,
            params.bond_types,
            params.ring_membership,
            params.redundant_environments,
            length,
            fold,
            use_counts,
            min(max_value, 2**62),
        ],
        dtype=np.int64,
    )
