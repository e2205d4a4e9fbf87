"""Files that notice change: content digests refuse hand edits, canaries notice another RDKit, old files load.

* A model with one vocabulary id changed by hand (``2245384272`` -> ``2245384273``) is refused in one line by
  ``load``, ``sortslice info`` and ``sortslice transform``; ``allow_edited`` / ``--allow-edited`` accepts it.
* An ids file with one stored id or count changed is refused by ``read_ids`` and by the command line.
* Under a faked other RDKit version whose perception really differs (molecules parsed and then kekulised,
  monkeypatched into the canary computation), loading warns once, naming both versions and how many canaries
  changed, and fails under ``strict_versions`` / ``--strict-versions``; with a changed canary digest the same.
  An unchanged environment recomputes nothing and stays silent.
* The format-1 files of ``tests/data/format_v1`` (written before this change) load and transform as a fit
  on the same molecules does today.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sortslice
from sortslice.engine import canaries
from sortslice.engine.persist import content_digest

from datasets import FIXTURES, paper_table
from helpers import run_cli

EDIT = ("2245384272", "2245384273")  # a carbon environment every drug-like training set has


@pytest.fixture(scope="module")
def train():
    smiles, y = paper_table("mpro")
    return smiles[:200], np.asarray(y[:200])


@pytest.fixture
def model(train, tmp_path):
    ss = sortslice.SortSlice(length=64, radius=1).fit(train[0])
    assert int(EDIT[0]) in ss.vocabulary_.tolist()
    path = tmp_path / "model.json"
    ss.save(path)
    return path


def _hand_edit(path, tmp_path):
    text = path.read_text()
    assert text.count(EDIT[0]) == 1
    edited = tmp_path / "edited.json"
    edited.write_text(text.replace(EDIT[0], EDIT[1]))
    return edited


# ------------------------------------------------------------------------------------ content digests
def test_a_hand_edited_vocabulary_id_is_refused_everywhere(model, tmp_path, train):
    edited = _hand_edit(model, tmp_path)
    with pytest.raises(sortslice.ModelFileError) as info:
        sortslice.load(edited)
    message = str(info.value)
    assert message.startswith(f"{edited}: the content digest does not match") and "\n" not in message
    assert "allow_edited=True or --allow-edited" in message
    molecules = tmp_path / "in.csv"
    molecules.write_text("smiles\n" + "\n".join(train[0][:20]) + "\n")
    out = tmp_path / "out.parquet"
    for args in (["info", edited], ["info", edited, "--json"], ["transform", edited, molecules, "-o", out]):
        result = run_cli(*args)
        assert result.exit_code == 1 and result.stderr == f"Error: {message}\n", (args, result.output)
    assert not out.exists()
    # accepted on purpose: loads, the other checks still run, and saving again gives a matching digest
    accepted = sortslice.load(edited, allow_edited=True)
    assert int(EDIT[1]) in accepted.vocabulary_.tolist()
    for args in (["info", edited, "--allow-edited"], ["transform", edited, molecules, "-o", out, "--allow-edited"]):
        assert run_cli(*args).exit_code == 0, args
    accepted.save(tmp_path / "resaved.json")
    assert sortslice.load(tmp_path / "resaved.json").vocabulary_.tolist() == accepted.vocabulary_.tolist()
    # re-indenting changes no value: same digest
    doc = json.loads(model.read_text())
    (tmp_path / "compact.json").write_text(json.dumps(doc, separators=(",", ":")))
    sortslice.load(tmp_path / "compact.json")
    assert doc["digest"] == content_digest(doc)


def test_every_value_is_covered_by_the_digest(model, tmp_path):
    doc = json.loads(model.read_text())
    edits = {
        "params": lambda d: d["params"].update(counts=True),
        "training": lambda d: d["training"].update(n_molecules=d["training"]["n_molecules"] + 1),
        "prevalence": lambda d: [
            d["vocabulary"][k].__setitem__(-1, d["vocabulary"][k][-1] - 1) for k in ("prevalence", "scores")
        ],
        "examples": lambda d: d["vocabulary"]["examples"].__setitem__(0, None),
        "versions": lambda d: d["versions"].update(rdkit="2024.03.1"),
        "canaries": lambda d: d["canaries"]["digests"].__setitem__(0, "0" * 16),
        "no digest": lambda d: d.pop("digest"),
    }
    for name, edit in edits.items():
        d = json.loads(json.dumps(doc))
        edit(d)
        (tmp_path / "e.json").write_text(json.dumps(d))
        with pytest.raises(sortslice.ModelFileError, match="content digest"):
            sortslice.load(tmp_path / "e.json")
        assert sortslice.load(tmp_path / "e.json", allow_edited=True) is not None, name


def test_a_changed_ids_file_is_refused(tmp_path, train):
    smiles = train[0][:50] + ["not a smiles"]
    path = tmp_path / "ids.parquet"
    sortslice.write_ids(sortslice.ecfp(smiles), path)
    table = pq.read_table(path)
    for column in ("ids", "counts"):
        values = table.column(column).to_pylist()
        values[3][1] += 1
        changed = table.set_column(
            table.schema.get_field_index(column), column, pa.array(values, pa.list_(pa.uint32()))
        )
        bad = tmp_path / f"bad_{column}.parquet"
        pq.write_table(changed.replace_schema_metadata(table.schema.metadata), bad)
        with pytest.raises(sortslice.IdsFileError, match="the content digest does not match") as info:
            sortslice.read_ids(bad)
        assert "\n" not in str(info.value) and str(info.value).startswith(str(bad))
        assert len(sortslice.read_ids(bad, allow_edited=True)) == len(smiles)
        out = tmp_path / "fps.npy"
        result = run_cli("fit", bad, "-o", tmp_path / "m.json")
        assert result.exit_code == 1 and result.stderr == f"Error: {info.value}\n", result.output
        assert not (tmp_path / "m.json").exists()
        assert run_cli("fit", bad, "-o", tmp_path / "m.json", "--allow-edited").exit_code == 0
        result = run_cli("transform", tmp_path / "m.json", bad, "-o", out)
        assert result.exit_code == 1 and result.stderr == f"Error: {info.value}\n", result.output
        assert not out.exists()
        (tmp_path / "m.json").unlink()


def test_ids_files_written_by_the_command_line_carry_a_digest_that_reads_back(tmp_path, train):
    data = tmp_path / "in.csv"
    data.write_text("smiles\n" + "\n".join(train[0][:120] + ["C1CC"]) + "\n")
    for errors in ("null", "skip"):
        out = tmp_path / f"ids_{errors}.parquet"
        assert run_cli("ids", data, "-o", out, "--chunk-size", "7", "--errors", errors).exit_code == 0
        info = sortslice.open_ids(out)
        assert info.digest is not None and info.digest.startswith("sha256:")
        fp = sortslice.read_ids(out)  # the digest is checked at the end
        assert len(fp) == (121 if errors == "null" else 120)


# ------------------------------------------------------------------------------------------- canaries
def _other_rdkit(monkeypatch, version="2023.09.6", perceive=True):
    """This process pretends to be another RDKit; ``perceive``: one whose aromaticity perception differs
    (every canary parsed, then kekulised, before its ids are computed)."""
    real = canaries.current_versions()
    monkeypatch.setattr(canaries, "current_versions", lambda: {**real, "rdkit": version})
    if perceive:
        from rdkit import Chem

        compute = canaries._compute

        def kekulised(smiles, params):
            mols = []
            for s in smiles:
                mol = Chem.MolFromSmiles(s)
                if mol is not None:
                    Chem.Kekulize(mol, clearAromaticFlags=True)
                mols.append(mol)
            return compute(mols, params)

        monkeypatch.setattr(canaries, "_compute", kekulised)
    return real


def test_same_versions_recompute_nothing(model, monkeypatch):
    calls = []
    monkeypatch.setattr(canaries, "_compute", lambda *a: calls.append(a))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sortslice.load(model)
        sortslice.load(model, strict_versions=True)
    assert calls == []
    result = run_cli("info", model, "--strict-versions")
    assert result.exit_code == 0 and "Warning" not in result.stderr


def test_another_rdkit_with_other_perception_warns_once_and_fails_strictly(model, tmp_path, train, monkeypatch):
    real = _other_rdkit(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = sortslice.load(model)
    assert [w.category for w in caught] == [sortslice.VersionChangeWarning]
    message = str(caught[0].message)
    n = len(json.loads(model.read_text())["canaries"]["smiles"])
    changed = int(message.split(": ")[2].split(" of ")[0])
    assert 0 < changed < n
    assert f"RDKit {real['rdkit']}, read under sortslice" in message and "RDKit 2023.09.6" in message
    assert f"{changed} of {n} canary molecules now give other ids" in message
    assert f.vocabulary_.size  # a warning, not a refusal
    with pytest.raises(sortslice.ModelFileError, match="canary molecules now give other ids"):
        sortslice.load(model, strict_versions=True)
    molecules = tmp_path / "in.csv"
    molecules.write_text("smiles\n" + "\n".join(train[0][:10]) + "\n")
    for args in (["info", model], ["transform", model, molecules, "-o", tmp_path / "o.parquet"]):
        result = run_cli(*args)
        assert result.exit_code == 0, result.output
        lines = [line for line in result.stderr.splitlines() if line.startswith("Warning: ") and "canary" in line]
        assert len(lines) == 1 and f"{changed} of {n} canary molecules" in lines[0], result.stderr
        strict = run_cli(*args, "--strict-versions")
        assert strict.exit_code == 1 and strict.stderr.startswith("Error: ") and strict.stderr.count("\n") == 1
    # another version that perceives these molecules alike: recomputed, nothing changed, silent
    monkeypatch.undo()
    _other_rdkit(monkeypatch, perceive=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sortslice.load(model, strict_versions=True)


def test_a_changed_canary_digest_warns_under_another_version(model, tmp_path, monkeypatch):
    doc = json.loads(model.read_text())
    doc["canaries"]["digests"][0] = "0123456789abcdef"
    doc["canaries"]["digests"][5] = "0123456789abcdef"
    doc["digest"] = content_digest(doc)
    path = tmp_path / "canary.json"
    path.write_text(json.dumps(doc))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sortslice.load(path)  # same versions: never recomputed
    _other_rdkit(monkeypatch, perceive=False)
    with pytest.warns(sortslice.VersionChangeWarning, match="2 of .* canary molecules now give other ids"):
        sortslice.load(path)
    with pytest.raises(sortslice.ModelFileError, match="2 of .* canary molecules"):
        sortslice.load(path, strict_versions=True)


def test_a_loaded_model_saved_again_keeps_where_its_ids_came_from(model, tmp_path, monkeypatch, train):
    _other_rdkit(monkeypatch, version="2099.01.1", perceive=False)
    f = sortslice.load(model)
    f.save(tmp_path / "again.json")
    a, b = json.loads(model.read_text()), json.loads((tmp_path / "again.json").read_text())
    assert b["versions"] == a["versions"] and b["canaries"] == a["canaries"]
    f.fit(train[0])  # refitted here: this environment's versions and canaries
    f.save(tmp_path / "refit.json")
    assert json.loads((tmp_path / "refit.json").read_text())["versions"]["rdkit"] == "2099.01.1"


def test_canaries_exercise_perception_and_include_training_molecules(model, train):
    doc = json.loads(model.read_text())
    smiles = doc["canaries"]["smiles"]
    assert smiles[: len(canaries.FIXED)] == list(canaries.FIXED)
    extra = smiles[len(canaries.FIXED) :]
    assert 0 < len(extra) <= canaries.N_TRAINING and set(extra) <= set(train[0])
    fp = sortslice.ecfp(list(canaries.FIXED), chirality=True)
    assert fp.valid.all()
    from rdkit import Chem

    mols = [Chem.MolFromSmiles(s) for s in canaries.FIXED]
    has = {
        "aromatic": any(a.GetIsAromatic() for m in mols for a in m.GetAtoms()),
        "stereo": any(Chem.FindMolChiralCenters(m) for m in mols),
        "double-bond stereo": any(b.GetStereo() != Chem.BondStereo.STEREONONE for m in mols for b in m.GetBonds()),
        "charge": any(a.GetFormalCharge() for m in mols for a in m.GetAtoms()),
        "isotope": any(a.GetIsotope() for m in mols for a in m.GetAtoms()),
        "spiro/bridged": any(m.GetRingInfo().NumRings() >= 3 for m in mols),
        "hypervalent": any(a.GetSymbol() in ("S", "P") and a.GetDegree() >= 4 for m in mols for a in m.GetAtoms()),
    }
    assert all(has.values()), has


def test_ids_files_check_canaries(tmp_path, train, monkeypatch):
    path = tmp_path / "ids.parquet"
    sortslice.write_ids(sortslice.ecfp(train[0][:30]), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sortslice.read_ids(path)
    _other_rdkit(monkeypatch)
    with pytest.warns(sortslice.VersionChangeWarning, match="canary molecules now give other ids") as caught:
        sortslice.read_ids(path)
    assert len([w for w in caught if w.category is sortslice.VersionChangeWarning]) == 1
    with pytest.raises(sortslice.IdsFileError, match="canary molecules now give other ids"):
        sortslice.read_ids(path, strict_versions=True)
    result = run_cli("fit", path, "-o", tmp_path / "m.json", "-L", "16")
    assert result.exit_code == 0, result.output
    assert sum("canary molecules now give other ids" in line for line in result.stderr.splitlines()) == 1
    result = run_cli("fit", path, "-o", tmp_path / "m2.json", "--strict-versions")
    assert result.exit_code == 1 and "canary molecules" in result.stderr and not (tmp_path / "m2.json").exists()


# -------------------------------------------------------------------------------------- old files
def test_format_1_files_still_load(train):
    smiles, y = train
    old = FIXTURES / "format_v1"
    fits = {
        "sort_slice": sortslice.SortSlice(length=64, radius=2).fit(smiles),
        "mim": sortslice.MIM(length=32, radius=1).fit(smiles, y),
        "filter": sortslice.Filtering(length=32, radius=1).fit(smiles, (y > np.median(y)).astype(int)),
        "hash_fold": sortslice.HashFold(length=128).fit(),
    }
    for name, ref in fits.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            f = sortslice.load(old / f"{name}.json", strict_versions=True)
        assert json.loads((old / f"{name}.json").read_text())["format_version"] == 1
        np.testing.assert_array_equal(f.transform(smiles), ref.transform(smiles))
        assert run_cli("info", old / f"{name}.json").exit_code == 0
    fp = sortslice.read_ids(old / "ids.parquet", strict_versions=True)
    assert sortslice.open_ids(old / "ids.parquet").digest is None
    assert len(fp) == 51 and fp.valid.sum() == 50
    np.testing.assert_array_equal(fp.ids, sortslice.ecfp(smiles[:50] + ["not a smiles"]).ids)
