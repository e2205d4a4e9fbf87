"""Stage 2, graph: a compiled reader of RDKit's binary molecule pickle (``Mol.ToBinary()``).

``Mol.ToBinary()`` is the fastest whole-molecule export RDKit has (one C++ call
that releases the GIL) and carries everything ECFP needs: atomic numbers, charges,
explicit/implicit H counts, isotopes, chiral tags, exact bond types (dative and
zero-order included), bond stereo and ring membership.  The format is versioned
(``Code/GraphMol/MolPickler.cpp``); this reader accepts the versions it was checked
against and reports anything else per molecule, so the caller can take the exact
(slower) RDKit route for that molecule instead of guessing.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel

OK = 0
BAD_HEADER = 1  # not a pickle, wrong endianness, or a version we were not checked against
TRUNCATED = 2  # ran past the end of the record
UNSUPPORTED = 3  # query atoms/bonds, monomer info, legacy fields: use the RDKit route
NO_RINGS = 4  # ring info not computed (unsanitised molecule): use the RDKit route


# MolPickler::Tags values
_BEGINATOM = 1
_BEGINBOND = 11
_BEGINSSSR = 20
_ATOM_MAPNUMBER = 24
_ATOM_DUMMYLABEL = 44
_BEGINSYMMSSSR = 66
_BEGINFASTFIND = 67
_BEGINFINDOTHER = 68

_MIN_VERSION = 14000  # uint16 property counts, the layout read here
_MAX_MAJOR = 16  # newest major version checked against RDKit


@kernel
def _i32(buf, p):
    v = np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8) | (np.int64(buf[p + 2]) << 16) | (np.int64(buf[p + 3]) << 24)
    if v >= 2**31:
        v -= 2**32
    return v


@kernel
def _u32(buf, p):
    return np.int64(buf[p]) | (np.int64(buf[p + 1]) << 8) | (np.int64(buf[p + 2]) << 16) | (np.int64(buf[p + 3]) << 24)


@kernel
def _s8(v):
    v = np.int64(v)
    return v - 256 if v >= 128 else v


@kernel
def pickle_header(buf, start, end):
    """(status, version, n_atoms, n_bonds, position after the header)."""
    if end - start < 29:
        return TRUNCATED, 0, 0, 0, start
    if _u32(buf, start) != 0xDEADBEEF or _i32(buf, start + 4) != 0:
        return BAD_HEADER, 0, 0, 0, start
    major = _i32(buf, start + 8)
    minor = _i32(buf, start + 12)
    patch = _i32(buf, start + 16)
    if major > _MAX_MAJOR or minor < 0 or minor > 100 or patch < 0 or patch > 100:
        return BAD_HEADER, 0, 0, 0, start
    version = 1000 * major + 10 * minor + patch
    if version < _MIN_VERSION:
        return BAD_HEADER, 0, 0, 0, start
    n_atoms = _i32(buf, start + 20)
    n_bonds = _i32(buf, start + 24)
    if n_atoms < 0 or n_bonds < 0:
        return BAD_HEADER, 0, 0, 0, start
    # every atom record takes >= 6 bytes and every bond >= 3: a header claiming
    # more than the record can hold is corrupt (and must not size any allocation)
    if 6 * n_atoms + 3 * n_bonds > end - start - 28:
        return TRUNCATED, 0, 0, 0, start
    return OK, version, n_atoms, n_bonds, start + 28


@kernel
def pickle_sizes(buf, offsets, n_atoms, n_bonds, status):
    """Atom and bond counts of every pickle (``buf[offsets[i]:offsets[i+1]]``): a few reads each, serial."""
    for i in range(offsets.shape[0] - 1):
        st, _v, na, nb, _p = pickle_header(buf, offsets[i], offsets[i + 1])
        status[i] = st
        n_atoms[i] = na if st == OK else 0
        n_bonds[i] = nb if st == OK else 0


@kernel
def parse_one(
    buf,
    start,
    end,
    a0,
    b0,
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
):
    st, version, n_atoms, n_bonds, p = pickle_header(buf, start, end)
    if st != OK:
        return st
    wide = n_atoms > 255  # atom indices are int32 instead of uint8
    isz = 4 if wide else 1
    if p + 2 > end:
        return TRUNCATED
    p += 1  # coordinate flag byte (always written, unused since v3)
    if buf[p] != _BEGINATOM:
        return UNSUPPORTED
    p += 1
    for a in range(n_atoms):
        if p + 6 > end:
            return TRUNCATED
        z = np.int64(buf[p])
        flags = np.int64(buf[p + 1])
        p += 2
        if flags & 0x10:  # query atom
            return UNSUPPORTED
        if flags & 0x80:  # legacy per-atom coordinates
            p += 12
        pf = _i32(buf, p)
        p += 4
        if pf & ~0x1FE:  # bit 0 (legacy mass offset) or unknown fields
            return UNSUPPORTED
        need = 0
        for bit in range(1, 8):
            if pf & (1 << bit):
                need += 1
        if pf & 0x100:
            need += 4
        if p + need > end:
            return TRUNCATED
        q = 0
        if pf & 0x2:
            q = _s8(buf[p])
            p += 1
        ct = 0
        if pf & 0x4:
            ct = np.int64(buf[p])
            p += 1
        if pf & 0x8:
            p += 1  # hybridisation
        eh = 0
        if pf & 0x10:
            eh = _s8(buf[p])
            p += 1
        if pf & 0x20:
            p += 1  # explicit valence
        iv = 0
        if pf & 0x40:
            iv = _s8(buf[p])
            p += 1
        if pf & 0x80:
            p += 1  # radical electrons
        iso = 0
        if pf & 0x100:
            iso = _u32(buf, p)
            p += 4
        if flags & 0x08:  # atom map number
            if p + 2 > end or buf[p] != _ATOM_MAPNUMBER:
                return TRUNCATED if p + 2 > end else UNSUPPORTED
            c = _s8(buf[p + 1])
            p += 2
            if c < 0:
                p += 4
        if flags & 0x04:  # dummy label string
            if p + 5 > end or buf[p] != _ATOM_DUMMYLABEL:
                return TRUNCATED if p + 5 > end else UNSUPPORTED
            p += 5 + _u32(buf, p + 1)
        if flags & 0x02:  # monomer (PDB residue) info
            return UNSUPPORTED
        k = a0 + a
        atomic_num[k] = z
        no_implicit[k] = (flags & 0x20) != 0
        charge[k] = q
        chiral_tag[k] = ct
        explicit_hs[k] = eh
        implicit_valence[k] = iv
        isotope[k] = iso
        in_ring[k] = False
    if p >= end:
        return TRUNCATED
    if buf[p] != _BEGINBOND:
        return UNSUPPORTED
    p += 1
    for b in range(n_bonds):
        if p + 2 * isz + 1 > end:
            return TRUNCATED
        if wide:
            u = _i32(buf, p)
            v = _i32(buf, p + 4)
        else:
            u = np.int64(buf[p])
            v = np.int64(buf[p + 1])
        p += 2 * isz
        flags = np.int64(buf[p])
        p += 1
        if flags & 0x10:  # query bond
            return UNSUPPORTED
        if u < 0 or v < 0 or u >= n_atoms or v >= n_atoms or u == v:
            return UNSUPPORTED
        bt = 1
        if flags & 0x08:
            if p >= end:
                return TRUNCATED
            bt = np.int64(buf[p])
            p += 1
        if flags & 0x04:
            p += 1  # bond direction
        bs = 0
        if flags & 0x02:
            if p + 2 > end:
                return TRUNCATED
            bs = np.int64(buf[p])
            p += 2 + _s8(buf[p + 1]) * isz
        if flags & 0x01:  # molfile end points / attach strings
            for _s in range(2):
                if p + 4 > end:
                    return TRUNCATED
                p += 4 + _u32(buf, p)
        k = b0 + b
        bond_begin[k] = u
        bond_end[k] = v
        bond_type[k] = bt
        bond_stereo[k] = bs
    if p >= end:
        return TRUNCATED
    tag = buf[p]
    p += 1
    if tag != _BEGINSSSR and tag != _BEGINSYMMSSSR and tag != _BEGINFASTFIND and tag != _BEGINFINDOTHER:
        return OK if n_atoms == 0 else NO_RINGS
    if p + 4 > end:
        return TRUNCATED
    n_rings = _u32(buf, p)
    p += 4
    for _ring in range(n_rings):
        if p + isz > end:
            return TRUNCATED
        size = _i32(buf, p) if wide else np.int64(buf[p])
        p += isz
        if size < 0 or p + size * isz > end:
            return TRUNCATED
        for _k in range(size):
            a = _i32(buf, p) if wide else np.int64(buf[p])
            p += isz
            if a < 0 or a >= n_atoms:
                return UNSUPPORTED
            in_ring[a0 + a] = True
    return OK


@kernel
def parse_pickles(
    blocks,
    lo,
    hi,
    buf,
    offsets,
    atom_ptr,
    bond_ptr,
    status,
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
):
    """Fill the per-atom and per-bond arrays of every pickle of blocks ``lo..hi-1`` whose header was read OK."""
    for bi in range(lo, hi):
        for i in range(blocks[bi], blocks[bi + 1]):
            if status[i] != OK:
                continue
            status[i] = parse_one(
                buf,
                offsets[i],
                offsets[i + 1],
                atom_ptr[i],
                bond_ptr[i],
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
