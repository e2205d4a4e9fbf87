"""Damaged and tampered model files, mutated field by field from real saved models.

``sortslice.load`` must refuse a file that is not what ``save`` writes with one
``ModelFileError`` line naming the file, and ``sortslice info/transform/explain`` with
one ``Error:`` line and exit status 1.  A file it accepts must be used faithfully: it
transforms, explains and draws without error, and saving it again gives the same
document (nothing was silently coerced or dropped).  Loading never executes code.

Every field of a Sort & Slice, a MIM (regression), a Filtering (classification) and a
hash-fold model is replaced by values of every other JSON type, out-of-range and
non-finite numbers, deleted, given unknown neighbours; list fields lose, repeat and
empty their items.  The expected verdict comes from the file format itself
(``schemas/featuriser.schema.json``: types, ranges, required fields), never from the
loader: ``refuse`` mutations must be refused; the others may load, but faithfully.
Semantic tamperings the schema cannot express (swapped columns, a score that is not
the prevalence, an example atom outside its molecule...) are listed by hand.
"""

from __future__ import annotations

import builtins
import copy
import json
import marshal
import math
import os
import pickle

import numpy as np
import pytest

import sortslice
from sortslice.engine.persist import content_digest, from_document, to_document

from datasets import paper_table
from helpers import run_cli

U32 = 2**32 - 1
I64 = 2**63 - 1
#: raw JSON spellings that json.dumps cannot produce on purpose
RAW = {"@NaN@": "NaN", "@Inf@": "Infinity", "@-Inf@": "-Infinity", "@1e400@": "1e400", "@digits@": "1" + "0" * 5000}
#: fields that may also be null; fields that are numbers (integers allowed)
NULLABLE = {"params/dtype", "training/median", "vocabulary/examples/*"}
NUMBERS = {"training/median", "vocabulary/scores/*", "params/min_df", "params/max_df"}
#: inclusive integer ranges the format gives each integer field
RANGES = {
    "format_version": (1, 2),
    "ecfp/radius": (0, 64),
    "params/length": (1, 2**30),
    "vocabulary/ids/*": (0, U32),
    "vocabulary/examples/*/radius": (0, 64),
}
#: objects that accept unknown keys (anything else refuses them)
OPEN_OBJECTS = {"versions"}
#: optional keys (deleting any other key must be refused)
OPTIONAL = {"created", "versions/numpy", "vocabulary/examples", "canaries", "params/min_df", "params/max_df"}


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    smiles, y = paper_table("lipophilicity")
    smiles, y = smiles[:300], np.asarray(y[:300])
    folder = tmp_path_factory.mktemp("tampering")
    models = {
        "sort-slice": sortslice.SortSlice(length=8).fit(smiles),
        "mim": sortslice.MIM(length=8, task="regression").fit(smiles, y),
        "filter": sortslice.Filtering(length=8, radius=1).fit(smiles, y > np.median(y)),
        "hash-fold": sortslice.HashFold(length=8).fit(),
    }
    out = {}
    for name, model in models.items():
        path = folder / f"{name}.json"
        model.save(path)
        out[name] = json.loads(path.read_text())
    assert out["mim"]["training"]["median"] is not None and out["filter"]["training"]["median"] is None
    return out


def pattern(path: tuple) -> str:
    """``vocabulary/ids/3`` -> ``vocabulary/ids/*``."""
    return "/".join("*" if isinstance(p, int) else p for p in path)


def json_type(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(v)]


def fields(node, prefix=()):
    """Every path of the document; of a list only its first and last items."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + (k,), v
            yield from fields(v, prefix + (k,))
    elif isinstance(node, list) and node:
        for i in sorted({0, len(node) - 1}):
            yield prefix + (i,), node[i]
            yield from fields(node[i], prefix + (i,))


def at(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def text(doc, reseal: bool = True) -> str:
    """The file of ``doc``; ``reseal``: with its content digest recomputed, so that what is tested is the
    check of the mutated field itself (the digest alone refuses any edit: ``test_provenance.py``)."""
    if reseal and isinstance(doc, dict) and "digest" in doc:
        doc = {**doc, "digest": content_digest(doc)}
    out = json.dumps(doc)
    for token, raw in RAW.items():
        out = out.replace(json.dumps(token), raw)
    return out


def value_verdict(path: tuple, original, value) -> str:
    """``refuse`` when the format does not allow ``value`` at ``path``, else ``either``."""
    p = pattern(path)
    if isinstance(value, str) and value in RAW:
        return "refuse"  # NaN, infinities, 1e400, 5000 digits: not numbers we read
    t, own = json_type(value), json_type(original)
    allowed = {own} | ({"null"} if p in NULLABLE else set()) | ({"integer"} if p in NUMBERS else set())
    if own == "null" and p == "training/median":
        allowed |= {"number", "integer"}
    if own == "null" and p == "params/dtype":
        allowed |= {"string"}
    if t not in allowed:
        return "refuse"
    if t == "integer" and own == "integer":
        lo, hi = RANGES.get(p, (0, I64))
        if not lo <= value <= hi:
            return "refuse"
    if t == "string" and p != "created" and not p.startswith(("versions/", "canaries/smiles/")):
        return "refuse"  # an enumeration, a dtype or a SMILES: "some text" is none of them
    if t == "object":
        return "refuse"  # the replacement objects lack the required keys
    return "either"


VALUES = [
    None,
    True,
    0,
    -1,
    2**32,
    2**63,
    10**30,
    1.5,
    "some text",
    [],
    {},
    [1],
    {"a": 1},
    "@NaN@",
    "@Inf@",
    "@-Inf@",
    "@1e400@",
]


def mutations(doc):
    """``(label, file text, verdict)`` of every mutation of ``doc``."""
    yield "digits in ids", text(doc).replace('"ids": [', '"ids": [' + RAW["@digits@"] + ", ", 1), "refuse"
    for path, original in fields(doc):
        label = "/".join(map(str, path))
        values = VALUES + ([float(original)] if json_type(original) == "integer" else [])
        if pattern(path) == "vocabulary/ids/*":
            values = values + [U32, U32 + 1]
        for value in values:
            if value == original and type(value) is type(original):
                continue
            d = copy.deepcopy(doc)
            at(d, path[:-1])[path[-1]] = value
            verdict = value_verdict(path, original, value)
            if isinstance(original, list) and json_type(value) == "array" and path[0] == "vocabulary":
                verdict = "refuse" if len(value) != len(original) else verdict  # lengths disagree
            yield f"{label} = {value!r}", text(d, reseal=path[0] != "digest"), verdict
        d = copy.deepcopy(doc)
        parent = at(d, path[:-1])
        del parent[path[-1]]
        # a required key, or a list item (that vocabulary list is then shorter than the others)
        verdict = "either" if pattern(path) in OPTIONAL else "refuse"
        yield f"del {label}", text(d, reseal=path[0] != "digest"), verdict
        if isinstance(original, dict):
            d = copy.deepcopy(doc)
            at(d, path)["bogus"] = 1
            yield f"{label} + bogus key", text(d), "either" if label in OPEN_OBJECTS else "refuse"
        if isinstance(original, list) and original:
            d = copy.deepcopy(doc)
            at(d, path).append(copy.deepcopy(original[-1]))
            yield f"{label} + repeated item", text(d), "refuse"
    d = copy.deepcopy(doc)
    d["bogus"] = 1
    yield "+ bogus key", text(d), "refuse"


def normalised(doc: dict) -> dict:
    """What saving again must reproduce: numbers as floats where the format says number; no provenance."""
    doc = json.loads(json.dumps(doc))
    doc.pop("created", None)
    doc.pop("versions", None)
    doc.pop("digest", None)
    doc.pop("canaries", None)
    if doc["method"] != "hash-fold":
        doc["params"].setdefault("min_df", 1)
        doc["params"].setdefault("max_df", 1.0)
    v = doc["vocabulary"]
    v["scores"] = [float(s) for s in v["scores"]]
    if doc["method"] != "hash-fold":
        v.setdefault("examples", [None] * len(v["ids"]))  # a file without examples saves as "none known"
    if doc["training"].get("median") is not None:
        doc["training"]["median"] = float(doc["training"]["median"])
    return doc


def check_refused(path, label) -> str:
    try:
        sortslice.load(path)
    except sortslice.ModelFileError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message and len(message) < 400, (label, message)
        return message
    raise AssertionError(f"{label}: loaded, but the format does not allow it")


def check_faithful(path, label, file_text) -> None:
    f = sortslice.load(path)
    X = f.transform(["CCO", "c1ccccc1O", "not a smiles"])
    assert X.shape == (3, f.length)
    if not isinstance(f, sortslice.HashFold):
        f.explain()
        if any(e is not None for e in json.loads(file_text)["vocabulary"].get("examples", [])):
            f.draw(8)
    again = to_document(f)
    assert normalised(again) == normalised(json.loads(file_text)), label


@pytest.mark.parametrize("method", ["sort-slice", "mim", "filter", "hash-fold"])
def test_every_field_mutated(docs, tmp_path, method):
    path = tmp_path / "model.json"
    problems, refused, loaded = [], 0, 0
    for label, file_text, verdict in mutations(docs[method]):
        path.write_text(file_text)
        try:
            sortslice.load(path)
        except sortslice.ModelFileError:
            try:
                check_refused(path, label)
                refused += 1
            except AssertionError as exc:
                problems.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - any other exception is the bug being looked for
            problems.append(f"{label}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        loaded += 1
        if verdict == "refuse":
            problems.append(f"{label}: loaded, but the format does not allow it")
            continue
        try:
            check_faithful(path, label, file_text)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{label}: loaded but not faithfully: {type(exc).__name__}: {str(exc)[:200]}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    assert refused > 100 and loaded > 5  # both verdicts were exercised


# ------------------------------------------------------------ tamperings the schema cannot express
def swap(d):
    """Columns 2 and 5 exchanged (consistently in every vocabulary list)."""
    v = d["vocabulary"]
    for k in ("ids", "scores", "prevalence", "examples"):
        v[k][2], v[k][5] = v[k][5], v[k][2]


def repeat_first_id(d):
    d["vocabulary"]["ids"][1] = d["vocabulary"]["ids"][0]


SEMANTIC = [
    ("sort-slice", swap, "not in the order fitting gives"),
    ("mim", swap, "not in the order fitting gives"),
    ("filter", swap, "not in the order fitting gives"),
    ("sort-slice", repeat_first_id, "repeats ids"),
    (
        "sort-slice",
        lambda d: d["vocabulary"]["scores"].__setitem__(3, d["vocabulary"]["scores"][3] + 0.5),
        "scores of a sort-slice featuriser are its prevalence",
    ),
    ("sort-slice", lambda d: d["vocabulary"].update(score_name="p_value"), "score_name"),
    ("mim", lambda d: d["vocabulary"].update(score_name="prevalence"), "score_name"),
    ("hash-fold", lambda d: d["vocabulary"].update(score_name="prevalence"), "score_name"),
    ("sort-slice", lambda d: d["params"].update(length=4), "8 vocabulary ids for length 4"),
    ("hash-fold", lambda d: d["vocabulary"].update(ids=[1], scores=[1.0], prevalence=[1]), "no vocabulary"),
    ("mim", lambda d: d["params"].pop("task"), "params"),
    ("mim", lambda d: d["training"].pop("task"), "training"),
    ("mim", lambda d: d["training"].pop("median"), "training"),
    ("mim", lambda d: d["params"].update(tie_break="larger_id_first"), "params"),
    ("mim", lambda d: d["training"].update(median=None), "training/median"),
    ("filter", lambda d: d["training"].update(median=0.5), "training/median"),
    ("mim", lambda d: d["params"].update(task="classification"), "params/task"),
    ("filter", lambda d: d["training"].update(task="regression"), "training/median"),
    ("sort-slice", lambda d: d["params"].pop("tie_break"), "params"),
    ("sort-slice", lambda d: d["params"].update(task="regression"), "params"),
    ("sort-slice", lambda d: d["training"].update(task="regression", median=1.0), "training"),
    ("hash-fold", lambda d: d["params"].update(tie_break="larger_id_first"), "params"),
    ("sort-slice", lambda d: d["vocabulary"]["examples"][0].update(atom=500), "example"),
    ("sort-slice", lambda d: d["vocabulary"]["examples"][0].update(radius=3), "example"),
    ("sort-slice", lambda d: d["vocabulary"]["examples"][0].update(smiles="C1CC(=O"), "example"),
    ("sort-slice", lambda d: d["vocabulary"]["examples"][0].update(smiles=""), "example"),
    ("sort-slice", lambda d: d["vocabulary"]["examples"][0].update(smiles="C" * 100_001), "examples/0/smiles"),
    ("sort-slice", lambda d: d.update(created="x" * 100_000), "created"),
    ("sort-slice", lambda d: d["versions"].update(rdkit="x" * 100_000), "versions/rdkit"),
    ("sort-slice", lambda d: d["vocabulary"].update(examples=[[{"smiles": "C"}]] * 8), "vocabulary/examples/0"),
    ("sort-slice", lambda d: d.update(format_version=0), "unsupported format version 0"),
    ("sort-slice", lambda d: d.update(format_version=True), "unsupported format version True"),
    ("sort-slice", lambda d: d.update(format_version=1.0), "unsupported format version 1.0"),
    ("sort-slice", lambda d: d.update(method="sort_slice"), "method"),
    ("sort-slice", lambda d: d["ecfp"].update(radius=65), "ecfp/radius"),
    ("sort-slice", lambda d: d["params"].update(dtype="object"), "params/dtype"),
    ("sort-slice", lambda d: d["params"].update(dtype="float128"), "params/dtype"),
]


@pytest.mark.parametrize("method,edit,match", SEMANTIC, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(SEMANTIC)])
def test_semantic_tamperings_are_refused_everywhere(docs, tmp_path, method, edit, match):
    d = copy.deepcopy(docs[method])
    edit(d)
    path = tmp_path / "model.json"
    path.write_text(text(d))
    message = check_refused(path, match)
    assert match in message, message
    molecules = tmp_path / "in.csv"
    molecules.write_text("smiles\nCCO\n")
    out = tmp_path / "out.parquet"
    for args in (
        ["info", path],
        ["info", path, "--json"],
        ["transform", path, molecules, "-o", out],
        ["explain", path, "--top", "3"],
        ["explain", path, "-o", tmp_path / "top.svg"],
    ):
        result = run_cli(*args)
        assert result.exit_code == 1 and result.stderr == f"Error: {message}\n", (args, result.output)
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "model.json"]


def test_cli_refuses_every_mutation_with_one_line(docs, tmp_path):
    # the library's verdicts reach the command line unchanged (a sample: one in seven of the refusals)
    path = tmp_path / "model.json"
    checked = 0
    for i, (label, file_text, verdict) in enumerate(mutations(docs["mim"])):
        if verdict != "refuse" or i % 7:
            continue
        path.write_text(file_text)
        message = check_refused(path, label)
        for args in (["info", path], ["explain", path]):
            result = run_cli(*args)
            assert result.exit_code == 1 and result.stderr == f"Error: {message}\n", (label, result.output)
        checked += 1
    assert checked > 20


def test_the_fields_mutated_cover_the_whole_format(docs):
    # every property the schema defines is mutated in at least one saved model
    from importlib import resources

    schema = json.loads(resources.files("sortslice.schemas").joinpath("featuriser.schema.json").read_text())

    def properties(node, prefix=""):
        for k, sub in node.get("properties", {}).items():
            yield prefix + k
            items = sub.get("items", {})
            for alt in [items] + items.get("oneOf", []):
                yield from properties(alt, prefix + k + "/*/")
            yield from properties(sub, prefix + k + "/")

    covered = {pattern(path) for d in docs.values() for path, _ in fields(d)}
    assert set(properties(schema)) - covered == set()


def test_a_key_given_twice_is_refused(docs, tmp_path):
    # other JSON readers keep the first of two equal keys, Python the last: one file, two models
    path = tmp_path / "twice.json"
    path.write_text(text(docs["mim"]).replace('"method": "mim"', '"method": "sort-slice", "method": "mim"'))
    assert check_refused(path, "twice").endswith(
        "not valid JSON (ValueError: the key 'method' appears twice in an object)"
    )


# -------------------------------------------------------------------------- never executes code
class Payload:
    """Unpickling this creates ``marker`` (a harmless stand-in for running a command)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_never_executes_code(docs, tmp_path, monkeypatch):
    marker = tmp_path / "executed"
    payload = pickle.dumps(Payload(marker))
    pickle.loads(payload).close()  # the payload works: unpickling creates the marker
    assert marker.exists()
    marker.unlink()
    good = tmp_path / "good.json"
    good.write_text(json.dumps(docs["sort-slice"]))
    files = {"pickle.json": payload, "pickle-after-json.json": json.dumps(docs["sort-slice"]).encode() + payload}
    inside = copy.deepcopy(docs["sort-slice"])
    inside["versions"]["note"] = payload.decode("latin-1")  # a pickle as text in a free-text field
    files["pickle-in-a-field.json"] = text(inside).encode()
    for k, extra in enumerate(
        [
            {"__reduce__": ["os.system", ["touch " + str(marker)]]},
            {"py/object": "os.system"},
            {"!!python/object/apply:os.system": ["touch " + str(marker)]},
        ]
    ):
        d = copy.deepcopy(docs["sort-slice"])
        d.update(extra)
        files[f"hook{k}.json"] = json.dumps(d).encode()
        d = copy.deepcopy(docs["sort-slice"])
        d["vocabulary"]["examples"][0] = extra
        files[f"hook{k}-in-an-example.json"] = json.dumps(d).encode()

    def forbidden(*args, **kwargs):
        raise AssertionError("loading a model file must not unpickle or evaluate anything")

    sortslice.load(good)  # imports what loading needs first (importing reads bytecode with marshal)
    for module, name in [
        (pickle, "loads"),
        (pickle, "load"),
        (pickle, "Unpickler"),
        (marshal, "loads"),
        (builtins, "eval"),
        (builtins, "exec"),
    ]:
        monkeypatch.setattr(module, name, forbidden)
    assert sortslice.load(good).vocabulary_.tolist() == docs["sort-slice"]["vocabulary"]["ids"]
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        if name == "pickle-in-a-field.json":
            assert sortslice.load(tmp_path / name).vocabulary_.tolist() == docs["sort-slice"]["vocabulary"]["ids"]
        else:
            check_refused(tmp_path / name, name)
    monkeypatch.undo()
    assert not marker.exists()


# ------------------------------------------------------------------------------------ huge files
def test_huge_files_are_refused(docs, tmp_path):
    blank = tmp_path / "blank.json"
    with open(blank, "wb") as fh:
        fh.write(b" " * (100 * 2**20) + b"{}")  # 100 MB
    assert check_refused(blank, "blank").endswith("not a sortslice featuriser file")
    d = copy.deepcopy(docs["sort-slice"])
    d["created"] = "x" * (10 * 2**20)
    long_field = tmp_path / "long.json"
    long_field.write_text(json.dumps(d))
    assert "at created" in check_refused(long_field, "created")  # and the message stays short


@pytest.mark.full
def test_a_100_mb_vocabulary_is_refused(docs, tmp_path):
    d = copy.deepcopy(docs["sort-slice"])
    n = 10_000_000
    v = d["vocabulary"]
    v["ids"] = list(range(n))
    v["scores"] = v["prevalence"] = [1] * n
    v.pop("examples")
    many = tmp_path / "many.json"
    many.write_text(json.dumps(d))
    assert os.path.getsize(many) > 90 * 2**20
    assert check_refused(many, "many").endswith(f"{n} vocabulary ids for length 8")


def test_saved_files_are_strict_json(docs, tmp_path):
    # what save writes is read back by any JSON parser: no NaN or Infinity, even if a score became one
    model = sortslice.from_state(from_document(docs["mim"]))
    model.scores_ = model.scores_.copy()
    model.scores_[0] = math.nan
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        model.save(tmp_path / "nan.json")
    assert os.listdir(tmp_path) == []
