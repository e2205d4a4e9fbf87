"""Saving and loading fitted featurisers as JSON (``schemas/featuriser.schema.json``).

Loading never executes code: the file is parsed as JSON, validated against the
schema, checked for internal consistency, and only then turned into a featuriser.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from datetime import datetime, timezone
from importlib import resources

import numpy as np

FORMAT = "sortslice-featuriser"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A featuriser file that cannot be used (one clear line says why)."""


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
    text = json.dumps(to_document(f), indent=1)
    path = os.fspath(path)
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path)
    except OSError:
        special = False
    if special:
        with open(path, "w") as fh:
            fh.write(text)
        return
    path = os.path.realpath(path)
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".sortslice-", suffix=".json.tmp", dir=folder)
    try:
        # mkstemp makes the file private (0600); a model file gets the usual umask permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def from_document(doc, *, source: str = "document", expect_ecfp=None):
    """Validate a parsed document and build the featuriser it describes."""
    import jsonschema

    from .featurisers import _Supervised
    from .fingerprint import EcfpParams
    from .fragments import Example

    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{source}: not a sortslice featuriser file")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{source}: unsupported format version {doc.get('format_version')!r} "
                             f"(this sortslice reads version {FORMAT_VERSION})")
    try:
        jsonschema.validate(doc, _schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise ModelFileError(f"{source}: invalid featuriser file at {where}: {exc.message}") from None
    vocab = doc["vocabulary"]
    ids = vocab["ids"]
    n = len(ids)
    if len(vocab["scores"]) != n or len(vocab["prevalence"]) != n or len(vocab.get("examples", ids)) != n:
        raise ModelFileError(f"{source}: vocabulary ids, scores, prevalence and examples have different lengths")
    if n > doc["params"]["length"]:
        raise ModelFileError(f"{source}: {n} vocabulary ids for length {doc['params']['length']}")
    if len(set(ids)) != n:
        raise ModelFileError(f"{source}: the vocabulary repeats ids")
    if doc["method"] == "hash-fold" and n:
        raise ModelFileError(f"{source}: a hash-fold featuriser has no vocabulary")
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
        f.task_ = training.get("task")
        f.median_ = training.get("median")
        f.n_distinct_ids_ = training.get("n_distinct_ids", n)
    else:
        # the saved vocabulary is the whole state needed to transform; partial_fit restarts counting
        f.state_ids_ = np.sort(f.vocabulary_)
        order = np.argsort(f.vocabulary_)
        f.state_prevalence_ = f.prevalence_[order]
        f.saved_n_distinct_ids_ = training.get("n_distinct_ids", n)
        f._vocabulary_only = True
    return f


def load(path, *, expect_ecfp=None):
    """Load a featuriser saved with ``save``; raises :class:`ModelFileError` with one clear line."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurd nesting
        raise ModelFileError(f"{path}: not valid JSON ({exc.__class__.__name__}: {exc})".splitlines()[0]) from None
    return from_document(doc, source=path, expect_ecfp=expect_ecfp)
