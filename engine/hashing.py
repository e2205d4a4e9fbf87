"""Stage 3, Morgan: RDKit's 32-bit hash primitives (``RDGeneral/hash/hash.hpp``) and layer-0 invariants.

All arithmetic is done in uint64 and masked back to 32 bits so that Numba's
integer promotion rules can never change a result.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel

MASK32 = np.uint64(0xFFFFFFFF)
GOLDEN = np.uint64(0x9E3779B9)


@kernel
def hash_combine(seed, h):
    """``seed ^= h + 0x9E3779B9 + (seed << 6) + (seed >> 2)`` on uint32 values."""
    s = np.uint64(seed) & MASK32
    v = (np.uint64(h) & MASK32) + GOLDEN + ((s << np.uint64(6)) & MASK32) + (s >> np.uint64(2))
    return (s ^ (v & MASK32)) & MASK32


@kernel
def hash_int(v):
    """An int32/int64 value cast to uint32 (two's complement for negatives)."""
    return np.uint64(np.int64(v) & np.int64(0xFFFFFFFF))


@kernel
def hash_pair(a, b):
    return hash_combine(hash_combine(np.uint64(0), hash_int(a)), hash_int(b))


@kernel
def ecfp_invariants(atomic_num, total_degree, total_hs, charge, delta_mass, in_ring, ring_membership):
    """Layer-0 ECFP invariants: ``hash_vector([Z, degree, Hs, charge, dmass] (+ [1] if ring))``."""
    n = atomic_num.shape[0]
    out = np.empty(n, dtype=np.uint32)
    for i in range(n):
        h = hash_combine(np.uint64(0), hash_int(atomic_num[i]))
        h = hash_combine(h, hash_int(total_degree[i]))
        h = hash_combine(h, hash_int(total_hs[i]))
        h = hash_combine(h, hash_int(charge[i]))
        h = hash_combine(h, hash_int(delta_mass[i]))
        if ring_membership and in_ring[i]:
            h = hash_combine(h, np.uint64(1))
        out[i] = np.uint32(h)
    return out


@kernel
def bond_invariants(bond_type, bond_stereo, use_bond_types, chirality):
    """Spec §2: 1 without bond types; 120 + stereo for stereo double bonds with chirality."""
    n = bond_type.shape[0]
    out = np.empty(n, dtype=np.int32)
    for i in range(n):
        if not use_bond_types:
            out[i] = 1
        elif chirality and bond_type[i] == 2 and bond_stereo[i] != 0:
            out[i] = 120 + bond_stereo[i]
        else:
            out[i] = bond_type[i]
    return out
