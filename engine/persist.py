"""Persistence stage: fitted states as JSON (``schemas/featuriser.schema.json``) and back.

Converts a :class:`~sortslice.engine.featurisers.FittedState` to a document and a document (validated) to
a state; it imports nothing above the state record (``featurisers.load`` builds the featuriser).

Loading never executes code: the file is parsed as JSON, its content digest checked, validated against
the schema, checked for internal consistency, and only then turned into a featuriser.

Format version 2 added the content digest (``digest``: SHA-256 of the canonical JSON of everything but
``digest`` and ``created``), the canaries (``canaries``, see :mod:`.canaries`) and the ``min_df``/``max_df``
parameters; files of version 1 still load (without a digest to check or canaries to compare).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import stat
from datetime import datetime, timezone
from importlib import resources
from typing import Any

import numpy as np

from .atomic import atomic_write
from .featurisers.state import FittedState, df_range
from .fingerprint import EcfpParams
from .fragments import Example

FORMAT = "sortslice-featuriser"
#: the version this sortslice writes; it reads every version in ``READABLE_VERSIONS``
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
#: top-level keys the content digest leaves out: itself, and when the file was written
UNDIGESTED = ("digest", "created")


class ModelFileError(ValueError):
    """A featuriser file that cannot be used (one clear line says why)."""


#: :func:`load` refuses larger files (far above any model this package writes), so that a wrong path
#: such as ``/dev/zero`` or a multi-gigabyte data file cannot exhaust memory
MAX_MODEL_BYTES = 512 * 2**20


def _schema() -> dict:
    return json.loads(resources.files("sortslice.schemas").joinpath("featuriser.schema.json").read_text())


def content_digest(doc: dict) -> str:
    """``sha256:<hex>`` of a model document's canonical JSON (sorted keys, no spaces, ASCII), without the
    keys in ``UNDIGESTED``: any change of a value changes it, re-indenting the file does not."""
    body = {k: v for k, v in doc.items() if k not in UNDIGESTED}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def _provenance(state: FittedState) -> tuple[dict, dict]:
    """The versions and canaries a saved file records: those of the file the state was loaded from, else
    this environment's (the canaries computed now, with the first columns' example molecules)."""
    from . import canaries

    if state.provenance is not None and state.provenance.get("canaries") is not None:
        return dict(state.provenance["versions"]), state.provenance["canaries"]
    training = [e.smiles for e in state.examples if e is not None] if state.examples else []
    versions = {**canaries.current_versions(), "numpy": np.__version__}
    return versions, canaries.record(state.ecfp, training)


def to_document(state) -> dict:
    """The JSON document of a fitted state (a :class:`FittedState`, or a featuriser's ``fitted_state``)."""
    if not isinstance(state, FittedState):
        state = state.fitted_state
    params = dict(state.params)
    training: dict = {"n_molecules": int(state.n_molecules), "n_invalid": int(state.n_invalid)}
    vocab: dict
    if state.method == "hash-fold":
        vocab = {"ids": [], "scores": [], "score_name": "none", "prevalence": []}
    else:
        examples = state.examples or (None,) * len(state.vocabulary)
        vocab = {
            "ids": [int(i) for i in state.vocabulary],
            "score_name": state.score_name,
            "scores": [float(s) for s in state.scores],
            "prevalence": [int(p) for p in state.prevalence],
            "examples": [None if e is None else e.to_dict() for e in examples],
        }
        training["n_distinct_ids"] = int(state.n_distinct_ids)
        if state.method in ("mim", "filter"):
            training["task"] = state.task
            training["median"] = state.median
    versions, canary_record = _provenance(state)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": state.method,
        "ecfp": state.ecfp.to_dict(),
        "params": params,
        "training": training,
        "vocabulary": vocab,
        "versions": versions,
        "canaries": canary_record,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    doc["digest"] = content_digest(doc)
    return doc


def save_state(state, path) -> None:
    """Write a fitted state (or a featuriser's) as JSON, atomically: a temporary file beside ``path``,
    renamed on success.

    Through a symlink, the link stays and its target is replaced; a path that is not a
    regular file (a pipe, ``/dev/stdout``, ``/dev/null``) is written in place, never replaced.
    """
    text = json.dumps(to_document(state), indent=1, allow_nan=False)  # strict JSON, as load reads
    with atomic_write(os.fspath(path)) as fh:
        fh.write(text.encode())


_INT64_MAX = 2**63 - 1
#: the vocabulary's per-column lists, whose items are checked without jsonschema (it takes ~50 us an item)
_COLUMN_LISTS = ("ids", "scores", "prevalence", "examples")


def _example_ok(x) -> bool:
    return x is None or (
        type(x) is dict
        and len(x) == 3
        and type(x.get("smiles")) is str
        and len(x["smiles"]) <= 100_000
        and type(x.get("atom")) is int
        and 0 <= x["atom"] <= 2**31 - 1
        and type(x.get("radius")) is int
        and 0 <= x["radius"] <= 64
    )


#: items these accept are valid under the schema; the schema has the last word on the others
_ITEM_OK = {
    "ids": lambda x: type(x) is int and 0 <= x <= 0xFFFFFFFF,
    "scores": lambda x: type(x) is float or type(x) is int,
    "prevalence": lambda x: type(x) is int and 0 <= x <= _INT64_MAX,
    "examples": _example_ok,
}


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
    vocab: Any = doc.get("vocabulary")
    lists: dict = {}
    if isinstance(vocab, dict):
        lists = {k: vocab[k] for k in _COLUMN_LISTS if isinstance(vocab.get(k), list)}
        doc = {**doc, "vocabulary": {**vocab, **{k: [] for k in lists}}}
    _raise_first(validator.iter_errors(doc), source)
    n, length = len(vocab["ids"]), doc["params"]["length"]
    if any(len(lists.get(k, vocab["ids"])) != n for k in _COLUMN_LISTS):
        raise ModelFileError(f"{source}: vocabulary ids, scores, prevalence and examples have different lengths")
    if n > length:  # before looking at every item of a huge vocabulary
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
    canary_record = doc.get("canaries")
    if canary_record is not None and len(canary_record["smiles"]) != len(canary_record["digests"]):
        raise ModelFileError(
            f"{source}: the canaries have {len(canary_record['smiles'])} molecules and "
            f"{len(canary_record['digests'])} digests"
        )
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
        raise ModelFileError(
            f"{source}: the vocabulary is not in the order fitting gives ({method}: columns {j} and {j + 1})"
        )
    _check_df_bounds(doc, prevalence, source)
    radius = doc["ecfp"]["radius"]
    examples = vocab.get("examples") or []
    if not any(e is not None for e in examples):
        return
    from rdkit import Chem

    from .parse import quiet_rdkit

    parser: Any = Chem.SmilesParserParams()
    parser.sanitize = False
    parser.removeHs = False
    with quiet_rdkit():
        for j, e in enumerate(examples):
            if e is None:
                continue
            if e["radius"] > radius:
                raise ModelFileError(
                    f"{source}: the example of column {j} has radius {e['radius']}, more than the ECFP radius {radius}"
                )
            mol = Chem.MolFromSmiles(e["smiles"], parser)
            if mol is None:
                raise ModelFileError(f"{source}: the example of column {j} is not a valid SMILES")
            if e["atom"] >= mol.GetNumAtoms():
                raise ModelFileError(
                    f"{source}: the example of column {j} has no atom {e['atom']} ({mol.GetNumAtoms()} atoms)"
                )


def _check_digest(doc: dict, source: str) -> None:
    digest = doc.get("digest")
    if digest is None:
        raise ModelFileError(
            f"{source}: has no content digest, which sortslice writes in every file of format version 2 "
            "(if it was edited on purpose, load it with allow_edited=True or --allow-edited, and save it again)"
        )
    if digest != content_digest(doc):
        raise ModelFileError(
            f"{source}: the content digest does not match: the file was changed after sortslice saved it "
            "(if the change was deliberate, load it with allow_edited=True or --allow-edited, and save it again)"
        )


def _check_df_bounds(doc: dict, prevalence: np.ndarray, source: str) -> None:
    """``min_df``/``max_df`` as fitting accepts them, and every column's prevalence within them."""
    p = doc["params"]
    if "min_df" not in p and "max_df" not in p:
        return
    n = doc["training"]["n_molecules"]
    try:
        bounds = df_range(p.get("min_df", 1), p.get("max_df", 1.0), n)
    except ValueError as exc:
        raise ModelFileError(f"{source}: {exc}") from None
    if bounds is None:
        if n and prevalence.size:
            raise ModelFileError(f"{source}: max_df corresponds to < documents than min_df over {n:,} molecules")
        return
    low, high = bounds
    outside = np.flatnonzero((prevalence < low) | (prevalence > high))
    if outside.size:
        j = int(outside[0])
        raise ModelFileError(
            f"{source}: column {j} has prevalence {int(prevalence[j]):,}, outside min_df/max_df "
            f"({low:g}..{high:g} of {n:,} molecules)"
        )


def from_document(
    doc, *, source: str = "document", expect_ecfp=None, allow_edited: bool = False, strict_versions: bool = False
) -> FittedState:
    """Validate a parsed document and return the fitted state it describes.

    ``allow_edited``: accept a file whose content digest does not match (edited on purpose; every other
    check still applies).  ``strict_versions``: a file written under another sortslice or RDKit version
    whose canaries now give other ids raises :class:`ModelFileError` instead of a
    :class:`~sortslice.engine.canaries.VersionChangeWarning`.
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{source}: not a sortslice featuriser file")
    version = doc.get("format_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise ModelFileError(
            f"{source}: unsupported format version {version!r} (this sortslice reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))})"
        )
    if version >= 2 and not allow_edited:
        _check_digest(doc, source)
    _check_schema(doc, source)
    _check_columns(doc, source)
    vocab = doc["vocabulary"]
    ids = vocab["ids"]
    n = len(ids)
    params = EcfpParams(**doc["ecfp"])
    if expect_ecfp is not None and params != expect_ecfp:
        raise ModelFileError(
            f"{source}: ECFP parameters {params.to_dict()} do not match the expected {expect_ecfp.to_dict()}"
        )
    training = doc["training"]
    examples = tuple(None if e is None else Example(**e) for e in vocab.get("examples", [None] * n))
    provenance = None
    if doc.get("canaries") is not None:
        from . import canaries

        canaries.check(source, doc["versions"], doc["canaries"], params, strict=strict_versions, error=ModelFileError)
        provenance = {"versions": dict(doc["versions"]), "canaries": doc["canaries"]}
    return FittedState(
        doc["method"],
        params,
        dict(doc["params"]),
        vocabulary=np.asarray(ids, dtype=np.uint32),
        scores=np.asarray(vocab["scores"], dtype=np.float64),
        prevalence=np.asarray(vocab["prevalence"], dtype=np.int64),
        examples=examples if n else (),
        n_molecules=training["n_molecules"],
        n_invalid=training["n_invalid"],
        n_distinct_ids=training.get("n_distinct_ids", 0),
        task=training.get("task"),
        median=training.get("median"),
        provenance=provenance,
    )


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
        seen: set = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"the key {key[:100]!r} appears twice in an object")
    return out


def read_state(path, *, expect_ecfp=None, allow_edited: bool = False, strict_versions: bool = False) -> FittedState:
    """The fitted state of a file written by ``save``; raises :class:`ModelFileError` with one clear line.

    Files over ``MAX_MODEL_BYTES`` (512 MiB) are refused unread.  ``allow_edited`` and ``strict_versions``
    as :func:`from_document`'s.
    """
    path = os.fspath(path)
    too_big = ModelFileError(f"{path}: larger than {MAX_MODEL_BYTES // 2**20} MiB, not a sortslice featuriser file")
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > MAX_MODEL_BYTES:
                raise too_big
            raw = fh.read(MAX_MODEL_BYTES + 1)  # devices and pipes have no size: read one byte past the limit
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > MAX_MODEL_BYTES:
        raise too_big
    try:
        # strict JSON: no NaN/Infinity, no number beyond float range, no key given twice (two readers of
        # one file must see one model); ValueError also covers decoding and integers of 4,300+ digits
        doc = json.loads(raw, parse_float=_finite, parse_constant=_refuse_constant, object_pairs_hook=_no_repeated_keys)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurd nesting
        reason = f"{exc.__class__.__name__}: {exc}".splitlines()[0]
        raise ModelFileError(f"{path}: not valid JSON ({reason[:200]})") from None
    return from_document(
        doc, source=path, expect_ecfp=expect_ecfp, allow_edited=allow_edited, strict_versions=strict_versions
    )
