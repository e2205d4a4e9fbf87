"""What an output file says of itself: the Parquet key-value metadata of fingerprint and ids tables."""

from __future__ import annotations


def output_metadata(
    command: str, ecfp: dict, featuriser=None, *, id_column: str | None = None, smiles_column: str | None = None
) -> dict:
    """Key-value metadata of a Parquet output: how its rows were made.

    ``command`` is ``ids`` (then the ids-file format of ``schemas/ids-file.md``, naming the row key and
    SMILES columns when they are carried), ``fold`` or ``transform`` (the ECFP parameters and the pooling:
    method, parameters and vocabulary of ``featuriser``).
    """
    from ..engine.persist import to_document
    from ..engine.version import VERSION
    from ..idsfile import ids_metadata

    if command == "ids":
        return ids_metadata(ecfp, id_column=id_column, smiles_column=smiles_column)
    meta = {"sortslice.version": VERSION, "sortslice.command": command, "sortslice.ecfp": dict(ecfp)}
    if featuriser is not None:
        doc = to_document(featuriser)
        pooling = {"method": doc["method"], **{k: v for k, v in doc["params"].items() if k != "sparse"}}
        if doc["vocabulary"]["ids"]:
            pooling["vocabulary"] = doc["vocabulary"]["ids"]
        meta["sortslice.pooling"] = pooling
    return meta
