"""Saving and loading fitted featurisers as JSON (``schemas/featuriser.schema.json``).

Loading never executes code: the file is parsed as JSON, validated against the
schema, checked for internal consistency, and only then turned into a featuriser.
"""

from __future__ import annotations

import functools
import json
import math
import os
import stat
from datetime import datetime, timezone
from importlib import resources

from .atomic import atomic_write

import numpy as np

FORMAT = "sortslice-featuriser"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A featuriser file that cannot be used (one clear line says why)."""


#: :func:`load` refuses larger files (far above any model this package writes), so that a wrong path
#: such as ``/dev/zero`` or a multi-gigabyte data file cannot exhaust memory
MAX_MODEL_BYTES = 512 * 2**20


def _schema() -> dict:
    return json.loads(resources.files("sortslice.schemas").joinpath("featuriser.schema.json").read_text())


def _classes():
    from .featurisers import MIM, Filtering, HashFold, SortSlice

    return {"sort-slice": SortSlice, "hash-fold": HashFold, "mim": MIM, "filter": Filtering}


def to_document(f) -> dict:
    """The JSON document of a fitted featuriser."""
    from rdkit import __version__ as rdkit_version

    from .. import __version__
    from .featurisers import HashFold, _Supervised

    method = f._method
    params = {"length": int(f.length), "counts": bool(f.counts),
              "dtype": None if f.dtype is None else np.dtype(f.dtype).name, "sparse": bool(f.sparse)}
    if hasattr(f, "tie_break"):
        params["tie_break"] = f.tie_break
    if hasattr(f, "task"):
        params["task"] = f.task
    training = {"n_molecules": int(getattr(f, "n_molecules_", 0)), "n_invalid": int(getattr(f, "n_invalid_", 0))}
    if isinstance(f, HashFold):
        if not hasattr(f, "n_features_out_"):
            raise ValueError("fit the featuriser before saving it")
        vocab = {"ids": [], "scores": [], "score_name": "none", "prevalence": []}
    else:
        if not hasattr(f, "vocabulary_"):
            raise ValueError("fit the featuriser before saving it")
        examples = getattr(f, "_examples", {})
        vocab = {"ids": [int(i) for i in f.vocabulary_], "score_name": f._score_name,
                 "scores": [float(s) for s in f.scores_], "prevalence": [int(p) for p in f.prevalence_],
                 "examples": [examples[int(i)].to_dict() if int(i) in examples else None for i in f.vocabulary_]}
        training["n_distinct_ids"] = int(f.n_distinct_ids_)
        if isinstance(f, _Supervised):
            training["task"] = f.task_
            training["median"] = f.median_
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "method": method,
        "ecfp": f.ecfp_params.to_dict(), "params": params, "training": training, "vocabulary": vocab,
        "versions": {"sortslice": __version__, "rdkit": rdkit_version, "numpy": np.__version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def save(f, path) -> None:
    """Write atomically: a temporary file in the same folder, renamed on success.

    Through a symlink, the link stays and its target is replaced; a path that is not a
    regular file (a pipe, ``/dev/stdout``, ``/dev/null``) is written in place, never replaced.
    """
    text = json.dumps(to_document(f), indent=1, allow_nan=False)   # strict JSON, as load reads
    with atomic_write(os.fspath(path)) as fh:
        fh.write(text.encode())


_INT64_MAX = 2**63 - 1
#: the vocabulary's per-column lists, whose items are checked without jsonschema (it takes ~50 us an item)
_COLUMN_LISTS = ("ids", "scores", "prevalence", "examples")


def _example_ok(x) -> bool:
    return x is None or (type(x) is dict and len(x) == 3 and type(x.get("smiles")) is str
                         and len(x["smiles"]) <= 100_000 and type(x.get("atom")) is int
                         and 0 <= x["atom"] <= 2**31 - 1 and type(x.get("radius")) is int and 0 <= x["radius"] <= 64)


#: items these accept are valid under the schema; the schema has the last word on the others
_ITEM_OK = {"ids": lambda x: type(x) is int and 0 <= x <= 0xFFFFFFFF,
            "scores": lambda x: type(x) is float or type(x) is int,
            "prevalence": lambda x: type(x) is int and 0 <= x <= _INT64_MAX,
            "examples": _example_ok}


@functools.lru_cache(maxsize=1)
def _validator():
    """The schema's validator, with "integer" read strictly: a JSON integer, never 1.0 (nor a boolean)."""
    import jsonschema

    schema = _schema()
    cls = jsonschema.validators.validator_for(schema)
    checker = cls.TYPE_CHECKER.redefine("integer", lambda checker, x: type(x) is int)
    return jsonschema.validators.extend(cls, type_checker=checker)(schema)


def _raise_first(errors, source: str, prefix: tuple = ()) -> None:
    import jsonschema

    error = jsonschema.exceptions.best_match(errors)
    if error is not None:
        where = "/".join(str(p) for p in (*prefix, *error.absolute_path)) or "top level"
        message = error.message if len(error.message) <= 160 else error.message[:150] + " ..."
        raise ModelFileError(f"{source}: invalid featuriser file at {where}: {message}")


def _check_schema(doc: dict, source: str) -> None:
    """The document against the schema: everything but the column lists' items, then those quickly."""
    validator = _validator()
    vocab = doc.get("vocabulary")
    lists = {}
    if isinstance(vocab, dict):
        lists = {k: vocab[k] for k in _COLUMN_LISTS if isinstance(vocab.get(k), list)}
        doc = {**doc, "vocabulary": {**vocab, **{k: [] for k in lists}}}
    _raise_first(validator.iter_errors(doc), source)
    n, length = len(vocab["ids"]), doc["params"]["length"]
    if any(len(lists.get(k, vocab["ids"])) != n for k in _COLUMN_LISTS):
        raise ModelFileError(f"{source}: vocabulary ids, scores, prevalence and examples have different lengths")
    if n > length:   # before looking at every item of a huge vocabulary
        raise ModelFileError(f"{source}: {n} vocabulary ids for length {length}")
    items = validator.schema["properties"]["vocabulary"]["properties"]
    for k, values in lists.items():
        ok = _ITEM_OK[k]
        if all(map(ok, values)):
            continue
        item = validator.evolve(schema=items[k]["items"])
        for i, x in enumerate(values):
            if not ok(x):
                _raise_first(item.iter_errors(x), source, ("vocabulary", k, i))


def _check_columns(doc: dict, source: str) -> None:
    """What the schema cannot say: distinct ids in the order fitting gives, scores and examples that fit."""
    method, vocab = doc["method"], doc["vocabulary"]
    ids = np.asarray(vocab["ids"], dtype=np.int64)
    n = ids.shape[0]
    if np.unique(ids).shape[0] != n:
        raise ModelFileError(f"{source}: the vocabulary repeats ids")
    if method == "hash-fold":
        if n:
            raise ModelFileError(f"{source}: a hash-fold featuriser has no vocabulary")
        return
    scores = np.asarray(vocab["scores"], dtype=np.float64)
    prevalence = np.asarray(vocab["prevalence"], dtype=np.int64)
    if method == "sort-slice" and not np.array_equal(scores, prevalence.astype(np.float64)):
        raise ModelFileError(f"{source}: the scores of a sort-slice featuriser are its prevalence, and differ")
    # each method's ranking, as a key that decreases along the vocabulary and an id rule for ties
    first = {"sort-slice": prevalence.astype(np.float64), "mim": scores, "filter": -scores}[method]
    tie = -ids if method == "sort-slice" and doc["params"]["tie_break"] == "smaller_id_first" else ids
    ordered = (first[:-1] > first[1:]) | ((first[:-1] == first[1:]) & (tie[:-1] > tie[1:]))
    if not ordered.all():
        j = int(np.flatnonzero(~ordered)[0])
        raise ModelFileError(f"{source}: the vocabulary is not in the order fitting gives ({method}: columns {j} "
                             f"and {j + 1})")
    radius = doc["ecfp"]["radius"]
    examples = vocab.get("examples") or []
    if not any(e is not None for e in examples):
        return
    from rdkit import Chem

    from ._worker import quiet_rdkit

    parser = Chem.SmilesParserParams()
    parser.sanitize = False
    parser.removeHs = False
    with quiet_rdkit():
        for j, e in enumerate(examples):
            if e is None:
                continue
            if e["radius"] > radius:
                raise ModelFileError(f"{source}: the example of column {j} has radius {e['radius']}, more than "
                                     f"the ECFP radius {radius}")
            mol = Chem.MolFromSmiles(e["smiles"], parser)
            if mol is None:
                raise ModelFileError(f"{source}: the example of column {j} is not a valid SMILES")
            if e["atom"] >= mol.GetNumAtoms():
                raise ModelFileError(f"{source}: the example of column {j} has no atom {e['atom']} "
                                     f"({mol.GetNumAtoms()} atoms)")


def from_document(doc, *, source: str = "document", expect_ecfp=None):
    """Validate a parsed document and build the featuriser it describes."""
    from .featurisers import _Supervised
    from .fingerprint import EcfpParams
    from .fragments import Example

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{source}: not a sortslice featuriser file")
    version = doc.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ModelFileError(f"{source}: unsupported format version {version!r} "
                             f"(this sortslice reads version {FORMAT_VERSION})")
    _check_schema(doc, source)
    _check_columns(doc, source)
    vocab = doc["vocabulary"]
    ids = vocab["ids"]
    n = len(ids)
    params = EcfpParams(**doc["ecfp"])
    if expect_ecfp is not None and params != expect_ecfp:
        raise ModelFileError(f"{source}: ECFP parameters {params.to_dict()} do not match the expected "
                             f"{expect_ecfp.to_dict()}")
    cls = _classes()[doc["method"]]
    kwargs = dict(doc["ecfp"])
    kwargs.update(doc["params"])
    f = cls(**{k: v for k, v in kwargs.items() if k in cls().get_params()})
    training = doc["training"]
    f.n_molecules_ = training["n_molecules"]
    f.n_invalid_ = training["n_invalid"]
    if doc["method"] == "hash-fold":
        return f.fit()
    f._set_vocabulary(np.asarray(ids, dtype=np.uint32), np.asarray(vocab["scores"], dtype=np.float64),
                      np.asarray(vocab["prevalence"], dtype=np.int64))
    if doc["method"] == "sort-slice":
        f.scores_ = f.scores_.astype(np.int64)
    f._examples = {int(i): Example(**e) for i, e in zip(ids, vocab.get("examples", [None] * n)) if e is not None}
    if isinstance(f, _Supervised):
        f.task_ = training["task"]
        f.median_ = training["median"]
        f.n_distinct_ids_ = training["n_distinct_ids"]
    else:
        # the saved vocabulary is the whole state needed to transform; partial_fit restarts counting
        f.state_ids_ = np.sort(f.vocabulary_)
        order = np.argsort(f.vocabulary_)
        f.state_prevalence_ = f.prevalence_[order]
        f.saved_n_distinct_ids_ = training["n_distinct_ids"]
        f._vocabulary_only = True
    return f


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of the range of numbers")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _no_repeated_keys(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"the key {key[:100]!r} appears twice in an object")
    return out


def load(path, *, expect_ecfp=None):
    """Load a featuriser saved with ``save``; raises :class:`ModelFileError` with one clear line.

    Files over ``MAX_MODEL_BYTES`` (512 MiB) are refused unread.
    """
    path = os.fspath(path)
    too_big = ModelFileError(f"{path}: larger than {MAX_MODEL_BYTES // 2**20} MiB, not a sortslice featuriser file")
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > MAX_MODEL_BYTES:
                raise too_big
            raw = fh.read(MAX_MODEL_BYTES + 1)   # devices and pipes have no size: read one byte past the limit
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_MODEL_BYTES:
        raise too_big
    try:
        # strict JSON: no NaN/Infinity, no number beyond float range, no key given twice (two readers of
        # one file must see one model); ValueError also covers decoding and integers of 4,300+ digits
        doc = json.loads(raw, parse_float=_finite, parse_constant=_refuse_constant,
                         object_pairs_hook=_no_repeated_keys)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurd nesting
        reason = f"{exc.__class__.__name__}: {exc}".splitlines()[0]
        raise ModelFileError(f"{path}: not valid JSON ({reason[:200]})") from None
    return from_document(doc, source=path, expect_ecfp=expect_ecfp)
