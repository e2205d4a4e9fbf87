"""Atom environments behind ids: fragments, labelled subgraph tests and drawings (RDKit)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """Where an id was seen: a training molecule (SMILES), the centre atom and radius."""

    smiles: str
    atom: int
    radius: int

    def to_dict(self) -> dict:
        return {"smiles": self.smiles, "atom": self.atom, "radius": self.radius}


def environment_bonds(mol, atom: int, radius: int) -> list[int]:
    """Bond indices of the Morgan environment of ``atom`` at ``radius`` (empty at radius 0)."""
    from rdkit import Chem

    if radius == 0:
        return []
    return list(Chem.FindAtomEnvironmentOfRadiusN(mol, int(radius), int(atom), enforceSize=False))


def environment_fragment(mol, atom: int, radius: int):
    """The environment as a molecule of its own (atoms and bonds with their labels)."""
    from rdkit import Chem

    bonds = environment_bonds(mol, atom, radius)
    if not bonds:
        rw = Chem.RWMol()
        a = Chem.Atom(mol.GetAtomWithIdx(int(atom)))
        rw.AddAtom(a)
        frag = rw.GetMol()
    else:
        frag = Chem.PathToSubmol(mol, bonds)
    frag.UpdatePropertyCache(strict=False)
    return frag


def environment_smiles(mol, atom: int, radius: int) -> str:
    """SMILES of the environment fragment (atoms as in the parent molecule)."""
    from rdkit import Chem

    bonds = environment_bonds(mol, atom, radius)
    if not bonds:
        return Chem.MolFragmentToSmiles(mol, atomsToUse=[int(atom)])
    atoms = sorted(
        {i for b in bonds for i in (mol.GetBondWithIdx(b).GetBeginAtomIdx(), mol.GetBondWithIdx(b).GetEndAtomIdx())}
    )
    return Chem.MolFragmentToSmiles(mol, atomsToUse=atoms, bondsToUse=bonds)


def is_strict_subgraph(small, big) -> bool:
    """True when ``small`` is a labelled subgraph of ``big`` (elements, charges, bond types)
    and strictly smaller (fewer atoms or fewer bonds)."""
    if (small.GetNumAtoms(), small.GetNumBonds()) == (big.GetNumAtoms(), big.GetNumBonds()):
        return False
    if small.GetNumAtoms() > big.GetNumAtoms() or small.GetNumBonds() > big.GetNumBonds():
        return False
    # RDKit compares charges only when the query atom is charged (a neutral N matches N+): check them
    # both ways on every embedding
    charges = [a.GetFormalCharge() for a in small.GetAtoms()]
    for match in big.GetSubstructMatches(small, uniquify=False, useChirality=False, maxMatches=100000):
        if all(big.GetAtomWithIdx(j).GetFormalCharge() == c for j, c in zip(match, charges)):
            return True
    return False


def draw_environments(
    examples: list[Example | None],
    legends: list[str],
    *,
    per_row: int = 5,
    size: tuple[int, int] = (220, 180),
    fmt: str = "svg",
):
    """A grid image of the environments (RDKit's Morgan environment drawing).

    Returns SVG text for ``fmt="svg"`` and PNG bytes for ``fmt="png"``.
    """
    from rdkit import Chem
    from rdkit.Chem import Draw

    items, labels = [], []
    for ex, legend in zip(examples, legends):
        if ex is None:
            continue
        mol = Chem.MolFromSmiles(ex.smiles)
        if mol is None:
            continue
        items.append((mol, ex.atom, ex.radius))
        labels.append(legend)
    if not items:
        raise ValueError("no column has an example environment to draw (fit on molecules, not on precomputed ids)")
    use_svg = fmt == "svg"
    img = Draw.DrawMorganEnvs(items, molsPerRow=per_row, subImgSize=size, legends=labels, useSVG=use_svg)
    if isinstance(img, (str, bytes)):
        return img
    if hasattr(img, "data"):
        return img.data
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
