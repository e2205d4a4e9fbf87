"""``sortslice info``: a saved model described in words."""

from __future__ import annotations

import json

import numpy as np

from ..engine.featurisers import METHODS
from .options import FileChecks
from .pipeline import load_model


def model_document(path: str) -> dict:
    with open(path, "rb") as fh:
        return json.loads(fh.read())


def describe_model(path: str, checks: FileChecks | None = None) -> list[tuple[str, str]]:
    """``(field, value)`` lines of ``sortslice info``."""
    load_model(path, checks)  # validates the file (one-line error if it is not a usable model)
    doc = model_document(path)
    e, p, t, v = doc["ecfp"], doc["params"], doc["training"], doc["vocabulary"]
    yes = {True: "yes", False: "no"}
    dtype = np.dtype(p["dtype"] or ("uint32" if p["counts"] else "uint8")).name
    rows = [
        ("file", path),
        ("method", f"{doc['method']}: {METHODS[doc['method']].words}"),
        ("length", f"{p['length']:,} columns of {'counts' if p['counts'] else '0/1'} ({dtype})"),
        (
            "ecfp",
            f"radius {e['radius']} ({e['invariants'].upper()}{2 * e['radius']}), "
            f"chirality {yes[e['chirality']]}, bond types {yes[e['bond_types']]}, "
            f"ring membership {yes[e['ring_membership']]}, "
            f"redundant environments {yes[e['redundant_environments']]}",
        ),
    ]
    n_mol = t["n_molecules"]
    if doc["method"] != "hash-fold":
        n_vocab = len(v["ids"])
        distinct = t.get("n_distinct_ids")
        rows.append(
            (
                "vocabulary",
                f"{n_vocab:,} ids" + (f" of {distinct:,} distinct in training" if distinct is not None else ""),
            )
        )
        if n_vocab:
            hi, lo = max(v["prevalence"]), min(v["prevalence"])
            pct = (lambda x: f" ({100 * x / n_mol:.1f}%)") if n_mol else (lambda x: "")
            rows.append(("prevalence", f"{hi:,}{pct(hi)} .. {lo:,}{pct(lo)} training molecules per column"))
            if v["score_name"] not in ("prevalence", "none"):
                rows.append((v["score_name"].replace("_", " "), f"{max(v['scores']):.4g} .. {min(v['scores']):.4g}"))
        if "min_df" in p or "max_df" in p:
            rows.append(("document frequency", _df_line(p.get("min_df", 1), p.get("max_df", 1.0), n_mol)))
        if "task" in t:
            task = t["task"] + (
                f" (classes split at the median {t['median']:.4g})" if t.get("median") is not None else ""
            )
            rows.append(("task", task))
    if doc["method"] == "hash-fold":
        rows.append(("training set", "none (folding learns nothing)"))
    else:
        rows.append(("training set", f"{n_mol:,} molecules ({t['n_invalid']:,} invalid, left out)"))
    rows.append(("versions", ", ".join(f"{k} {val}" for k, val in doc["versions"].items())))
    if doc.get("canaries") is not None:
        rows.append(
            ("canaries", f"{len(doc['canaries']['smiles'])} molecules, recomputed when loaded under other versions")
        )
    rows.append(("digest", doc.get("digest") or "none (format version 1)"))
    if doc.get("created"):
        rows.append(("created", doc["created"]))
    return rows


def _df_line(min_df, max_df, n: int) -> str:
    def one(v, word):
        if isinstance(v, int):
            return f"{word} {v:,} molecules"
        return f"{word} {v:g} of the molecules" + (f" ({v * n:,.6g} of {n:,})" if n else "")

    if (min_df, max_df) == (1, 1.0) and isinstance(min_df, int) and isinstance(max_df, float):
        return "no bounds (min_df 1, max_df 1.0)"
    return f"min_df {min_df!r}: {one(min_df, 'at least')}; max_df {max_df!r}: {one(max_df, 'at most')}"
