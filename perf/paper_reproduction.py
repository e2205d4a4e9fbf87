"""Reproduce the Sort & Slice paper's pooling comparison with this library.

Dablander et al., "Sort & Slice: A Simple and Superior Alternative to Hash-Based Folding
for Extended-Connectivity Fingerprints", J. Cheminform. 16:135 (2024); protocol and
headline numbers in ``../shared/docs/sort-slice-spec.md``.

Usage (from the repository root)::

    python perf/paper_reproduction.py                 # default run: RF, ECFP4, L=1024, random +
                                                      # scaffold splits, 5 data sets, 4 poolings
                                                      # (~15-25 min on 2 cores, n_jobs=1)
    python perf/paper_reproduction.py --grid          # the paper's 24 settings per data set/split
    python perf/paper_reproduction.py --datasets mpro --splits random --repeats 1 --subsample 600

Protocol (as the paper's experiment code)
-----------------------------------------
* k-fold cross-validation (k=2) repeated m=3 times: random splits are
  ``KFold(n_splits=k, shuffle=True, random_state=seed + rep)``; scaffold splits group the
  molecules by generic Bemis-Murcko scaffold (``GetScaffoldForMol`` then
  ``MakeScaffoldGeneric``), order the groups by size (largest first), shuffle them with
  ``random.Random(seed + rep)`` and put each group into the currently smaller fold.
* Unfolded ECFP ids (chirality on, bond types on) are computed once per data set and
  setting; every featuriser (hashed, Sort & Slice, filtering, MIM) is refitted on each
  training fold only; binary vectors of length L.
* Random forest: 100 trees, ``max_features="sqrt"``, ``random_state=42`` (otherwise
  scikit-learn defaults). Optional MLP as in the paper (5 hidden layers of 512, batch norm,
  dropout 0.25, AdamW) with PyTorch when it is installed, or scikit-learn's MLP.
* Metrics: MAE for regression (Mpro modelled as -log10 IC50 in uM), AUROC for
  classification (predicted probability of class 1); mean and sample standard deviation
  over the k*m trials.

Outputs (``--out-dir``, default ``perf/results``): ``<name>.md`` (tables, ours beside the
paper's numbers), ``<name>.png`` (chart) and ``<name>_trials.csv`` (one row per trial;
``--resume`` skips trials already in it, so ``--resume`` alone redraws the report) and
``<name>_runs.json`` (command, wall time and load of each run).  Data are read in place from
``tests/data/sortslice_paper`` (verbatim copies; or ``$SORTSLICE_PAPER_DATA``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from _harness import git_commit, load_average, versions

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: the paper's five CSVs, kept verbatim in the repository (tests/data/README.md credits them)
DATA = Path(os.environ.get("SORTSLICE_PAPER_DATA", ROOT / "tests" / "data" / "sortslice_paper"))
RESULTS = HERE / "results"


# ------------------------------------------------------------------------- data sets
@dataclass(frozen=True)
class Dataset:
    key: str
    file: str
    label: str
    task: str  # "regression" | "classification"
    title: str
    neg_log10: bool = False  # model -log10(label) (Mpro IC50 in uM -> pIC50 - 6)

    @property
    def metric(self) -> str:
        return "MAE" if self.task == "regression" else "AUROC"

    @property
    def higher_is_better(self) -> bool:
        return self.task == "classification"


DATASETS = {
    d.key: d
    for d in (
        Dataset("lipophilicity", "lipophilicity.csv", "exp", "regression", "Lipophilicity"),
        Dataset("aqsoldb", "aqsoldb.csv", "Solubility", "regression", "AqSolDB"),
        Dataset("mpro", "mpro.csv", "f_avg_IC50", "regression", "Mpro (pIC50)", neg_log10=True),
        Dataset("ames", "ames.csv", "Activity", "classification", "Ames"),
        Dataset("lit_pcba_esr_ant", "lit_pcba_esr_ant.csv", "Activity", "classification", "LIT-PCBA ESR1 ant."),
    )
}

METHODS = {"hashed": "hashed", "sort_slice": "Sort & Slice", "filtered": "filtered", "mim": "MIM"}

# The paper's headline numbers (spec): ECFP4, L = 1024, binary, random split, RF, mean of 6 trials.
PAPER_SETTING = ("random", "rf", "ecfp", 2, 1024)
PAPER = {
    "lipophilicity": {"hashed": 0.719, "sort_slice": 0.668, "filtered": 0.674, "mim": 0.678},
    "aqsoldb": {"hashed": 1.059, "sort_slice": 0.996, "filtered": 1.028, "mim": 1.051},
    "mpro": {"hashed": 0.457, "sort_slice": 0.443, "filtered": 0.453, "mim": 0.460},
    "ames": {"hashed": 0.863, "sort_slice": 0.867, "filtered": 0.862, "mim": 0.854},
    "lit_pcba_esr_ant": {"hashed": 0.716, "sort_slice": 0.714, "filtered": 0.692, "mim": 0.680},
}
TOLERANCE = 0.02


def load_dataset(ds: Dataset, data_dir: Path = DATA) -> tuple[list[str], np.ndarray]:
    """SMILES and labels in file order (the order the paper's splits index into)."""
    path = data_dir / ds.file
    if not path.exists():
        raise SystemExit(f"{path} is missing: the paper's data sets are read in place from {data_dir}")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    smiles_col = next(h for h in rows[0] if "smiles" in h.lower())
    smiles = [r[smiles_col] for r in rows]
    y = np.array([float(r[ds.label]) for r in rows], dtype=np.float64)
    if ds.neg_log10:
        y = -np.log10(y)
    if ds.task == "classification":
        y = y.astype(np.int64)
    return smiles, y


# --------------------------------------------------------------------------- splits
def random_splits(n: int, k: int = 2, repeats: int = 3, seed: int = 42, stratify_by=None):
    """``[(rep, fold, train, test)]`` from ``KFold(k, shuffle=True, random_state=seed + rep)``.

    With ``stratify_by`` (class labels), ``StratifiedKFold`` with the same seeds: the paper's
    code offers it for classification, and some of its published classification results used it.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    out = []
    for rep in range(repeats):
        cls = KFold if stratify_by is None else StratifiedKFold
        kf = cls(n_splits=k, shuffle=True, random_state=seed + rep)
        for fold, (tr, te) in enumerate(kf.split(np.arange(n), stratify_by)):
            out.append((rep, fold, tr, te))
    return out


def generic_scaffolds(smiles: list[str]) -> list[str | None]:
    """Generic Bemis-Murcko scaffold SMILES per molecule (``None`` where RDKit fails)."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem.Scaffolds import MurckoScaffold

    RDLogger.DisableLog("rdApp.*")
    out: list[str | None] = []
    for s in smiles:
        try:
            mol = Chem.MolFromSmiles(s)
            core = MurckoScaffold.MakeScaffoldGeneric(MurckoScaffold.GetScaffoldForMol(mol))
            out.append(Chem.CanonSmiles(Chem.MolToSmiles(core)))
        except Exception:  # noqa: BLE001 - RDKit raises several types; such molecules are left out
            out.append(None)
    return out


def scaffold_splits(scaffolds: list[str | None], k: int = 2, repeats: int = 3, seed: int = 42):
    """Scaffold k-fold CV: groups shuffled per repeat, each put into the currently smallest fold.

    Groups are first ordered by (size, first index) descending, as the paper's code does
    before ``random.seed(seed + rep); random.shuffle(groups)`` (same permutation as
    ``random.Random(seed + rep).shuffle``).  Molecules without a scaffold are left out.
    """
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(scaffolds):
        if s is not None:
            groups.setdefault(s, []).append(i)
    ordered = sorted(groups.values(), key=lambda g: (len(g), g[0]), reverse=True)
    out = []
    for rep in range(repeats):
        sets = [list(g) for g in ordered]
        random.Random(seed + rep).shuffle(sets)
        buckets: list[list[int]] = [[] for _ in range(k)]
        for g in sets:
            buckets[int(np.argmin([len(b) for b in buckets]))].extend(g)
        for fold in range(k):
            train = [i for j, b in enumerate(buckets) if j != fold for i in b]
            out.append(
                (
                    rep,
                    fold,
                    np.asarray(sorted(train), dtype=np.int64),
                    np.asarray(sorted(buckets[fold]), dtype=np.int64),
                )
            )
    return out


# ---------------------------------------------------------------------- featurisers
def take_rows(fp, rows: np.ndarray):
    """The rows ``rows`` of an :class:`~sortslice.EcfpResult`, as a new EcfpResult."""
    import sortslice

    rows = np.asarray(rows, dtype=np.int64)
    starts = fp.indptr[rows]
    lens = fp.indptr[rows + 1] - starts
    indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    idx = np.repeat(starts - indptr[:-1], lens) + np.arange(indptr[-1], dtype=np.int64)
    return sortslice.EcfpResult(indptr, fp.ids[idx], fp.counts[idx], fp.valid[rows], fp.errors[rows], fp.params)


def make_featuriser(
    method: str, *, radius: int, invariants: str, length: int, chirality: bool, task: str, tie_break: str, n_jobs: int
):
    import sortslice

    common = dict(radius=radius, invariants=invariants, length=length, chirality=chirality, n_jobs=n_jobs)
    if method == "hashed":
        return sortslice.HashFold(**common)
    if method == "sort_slice":
        return sortslice.SortSlice(tie_break=tie_break, **common)
    if method == "mim":
        return sortslice.MIM(task=task, **common)
    if method == "filtered":
        return sortslice.Filtering(task=task, **common)
    raise ValueError(f"unknown method {method!r}")


def featurise(method, featuriser, smiles, fp, y, train, test):
    """Fit on the training rows only; return (X_train, X_test)."""
    fp_train, fp_test = take_rows(fp, train), take_rows(fp, test)
    if method == "filtered":
        # Filtering compares the substructures themselves, so it fits on the molecules
        featuriser.fit([smiles[i] for i in train], y[train])
    else:
        featuriser.fit(fp_train, y[train])
    return featuriser.transform(fp_train), featuriser.transform(fp_test)


# --------------------------------------------------------------------------- models
def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def fit_predict(
    model: str,
    task: str,
    X_train,
    y_train,
    X_test,
    *,
    n_jobs: int,
    mlp_backend: str,
    mlp_epochs: int,
    rf_trees: int = 100,
    seed: int = 42,
) -> np.ndarray:
    """Predictions for X_test: values (regression) or probability of class 1."""
    if model == "rf":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestRegressor if task == "regression" else RandomForestClassifier
        rf = cls(n_estimators=rf_trees, max_features="sqrt", random_state=seed, n_jobs=n_jobs)
        rf.fit(X_train, y_train)
        return rf.predict(X_test) if task == "regression" else rf.predict_proba(X_test)[:, 1]
    if model == "mlp":
        if mlp_backend == "torch":
            return _torch_mlp(task, X_train, y_train, X_test, epochs=mlp_epochs, seed=seed, threads=n_jobs)
        return _sklearn_mlp(task, X_train, y_train, X_test, epochs=mlp_epochs, seed=seed)
    raise ValueError(f"unknown model {model!r}")


def _sklearn_mlp(task, X_train, y_train, X_test, *, epochs, seed):
    """scikit-learn's MLP with the paper's widths (no batch norm/dropout there; L2 instead)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPRegressor if task == "regression" else MLPClassifier
    mlp = cls(
        hidden_layer_sizes=(512,) * 5,
        activation="relu",
        solver="adam",
        alpha=1e-3,
        batch_size=64,
        learning_rate_init=1e-3,
        max_iter=epochs,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X_train.astype(np.float32), y_train)
    X_test = X_test.astype(np.float32)
    return mlp.predict(X_test) if task == "regression" else mlp.predict_proba(X_test)[:, 1]


def _torch_mlp(task, X_train, y_train, X_test, *, epochs, seed, threads):
    """The paper's MLP: 5 x 512 ReLU, batch norm, dropout 0.25, AdamW(1e-3, wd 0.1), batch 64,
    learning rate x max(0.98**epoch, 0.01), MSE or BCE loss."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(max(1, int(threads)))
    layers: list[nn.Module] = []
    width = X_train.shape[1]
    for k in range(5):
        if k > 0:
            layers += [nn.BatchNorm1d(width), nn.Dropout(0.25)]
        layers += [nn.Linear(width, 512), nn.ReLU()]
        width = 512
    layers += [nn.BatchNorm1d(width), nn.Dropout(0.25), nn.Linear(width, 1)]
    net = nn.Sequential(*layers)
    xt = torch.tensor(np.asarray(X_train, dtype=np.float32))
    yt = torch.tensor(np.asarray(y_train, dtype=np.float32).reshape(-1, 1))
    loss_fn = nn.MSELoss() if task == "regression" else nn.BCEWithLogitsLoss()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: max(0.98**e, 1e-2))
    gen = torch.Generator().manual_seed(seed)
    n = xt.shape[0]
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n - 64 + 1, 64):  # drop the last incomplete batch, as the paper
            b = perm[s : s + 64]
            opt.zero_grad()
            loss_fn(net(xt[b]), yt[b]).backward()
            opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        out = net(torch.tensor(np.asarray(X_test, dtype=np.float32)))[:, 0]
        if task == "classification":
            out = torch.sigmoid(out)
    return out.numpy().astype(np.float64)


def score(task: str, y_true, y_pred) -> float:
    from sklearn.metrics import mean_absolute_error, roc_auc_score

    if task == "regression":
        return float(mean_absolute_error(y_true, y_pred))
    return float(roc_auc_score(y_true, y_pred))


# ------------------------------------------------------------------------ bookkeeping
FIELDS = [
    "dataset",
    "split",
    "model",
    "invariants",
    "radius",
    "length",
    "method",
    "rep",
    "fold",
    "metric",
    "value",
    "n_train",
    "n_test",
    "seconds",
]


def trial_key(row) -> tuple:
    return (
        row["dataset"],
        row["split"],
        row["model"],
        row["invariants"],
        int(row["radius"]),
        int(row["length"]),
        row["method"],
        int(row["rep"]),
        int(row["fold"]),
    )


def read_trials(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for f in ("radius", "length", "rep", "fold", "n_train", "n_test"):
            r[f] = int(r[f])
        for f in ("value", "seconds"):
            r[f] = float(r[f])
    return rows


def summarise(rows: list[dict]) -> dict[tuple, dict]:
    """(dataset, split, model, invariants, radius, length, method) -> mean, sd, values."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        key = (r["dataset"], r["split"], r["model"], r["invariants"], r["radius"], r["length"], r["method"])
        groups.setdefault(key, []).append(r["value"])
    out = {}
    for key, vals in groups.items():
        v = np.asarray(vals)
        out[key] = {
            "mean": float(v.mean()),
            "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "values": v,
            "n": len(v),
        }
    return out


def better(ds: Dataset, a: float, b: float) -> bool:
    """Is metric value ``a`` strictly better than ``b``?"""
    return a > b if ds.higher_is_better else a < b


# --------------------------------------------------------------------------- report
def _fmt(x: float | None, digits: int = 3, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def data_summary(info: dict[str, dict]) -> list[str]:
    lines = [
        "| data set | molecules | task (metric) | label | invalid SMILES | duplicate SMILES (canonical) | "
        "generic scaffolds | scaffold fold sizes (rep 0) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, d in info.items():
        ds = DATASETS[key]
        label = ("-log10(" + ds.label + ")") if ds.neg_log10 else ds.label
        lines.append(
            f"| {ds.title} | {d['n']} | {ds.task} ({ds.metric}) | {label}{d.get('label_note', '')} | "
            f"{d['invalid']} | {d.get('duplicates', '—')} | {d.get('scaffolds', '—')} | "
            f"{d.get('scaffold_folds', '—')} |"
        )
    return lines


def setting_label(model, invariants, radius, length) -> str:
    return f"{model.upper()}, {invariants.upper()}{2 * radius}, L = {length}"


def report(summary, rows, args, info, wall: float, meta: dict) -> str:
    settings = sorted({(k[2], k[3], k[4], k[5]) for k in summary}, key=lambda s: (s[0] != "rf", s[1], s[2], s[3]))
    splits = [s for s in ("random", "scaffold") if any(k[1] == s for k in summary)]
    datasets = [d for d in DATASETS if any(k[0] == d for k in summary)]
    methods = [m for m in METHODS if any(k[6] == m for k in summary)]

    out = [
        "# Sort & Slice paper reproduction",
        "",
        "Generated by `perf/paper_reproduction.py`: the paper's protocol (Dablander et al., J. Cheminform. 2024; "
        "see `../shared/docs/sort-slice-spec.md`) run with this library's featurisers.",
        "",
        "```",
        "\n".join(r["command"] for r in meta["runs"]),
        "```",
        "",
    ]
    for r in meta["runs"]:
        out.append(
            f"- {r['date']}: wall time **{r['wall'] / 60:.1f} min** ({r['wall']:.0f} s), {r['new_trials']} "
            f"trials run; load average before/after: {r['load_before']} / {r['load_after']}; git {r['git']}"
        )
    out += [
        f"- trials in this report: {len(rows)}",
        f"- machine: {meta['machine']}",
        f"- versions: {meta['versions']}",
        f"- protocol: {args.folds}-fold CV x {args.repeats} repeats (random: "
        f"`{'StratifiedKFold (classification), KFold (regression)' if args.stratify else 'KFold'}(shuffle=True, "
        f"random_state={args.seed}+rep)`; scaffold: generic Bemis-Murcko groups, shuffled with seed "
        f"{args.seed}+rep, greedily put into the smaller fold); featurisers refitted on each training fold; "
        f"binary ECFP, chirality {'on' if args.chirality else 'off'}; Sort & Slice ties: {args.tie_break}; "
        f"RF: {args.rf_trees} trees, max_features='sqrt', random_state=42, n_jobs={args.n_jobs}"
        + (f"; MLP backend: {meta['mlp_backend']}, {args.mlp_epochs} epochs" if "mlp" in args.models else "")
        + (f"; **subsample of {args.subsample} molecules per data set**" if args.subsample else ""),
        "- numbers: mean ± sample SD over the trials; MAE lower is better, AUROC higher is better; Δ = ours − paper",
        "",
    ]

    out += ["## Data", ""] + data_summary(info) + [""]

    paper_key = PAPER_SETTING
    for model, inv, radius, length in settings:
        for split in splits:
            keyset = [(d, m) for d in datasets for m in methods if (d, split, model, inv, radius, length, m) in summary]
            if not keyset:
                continue
            with_paper = (split, model, inv, radius, length) == paper_key
            out += [f"## {split.capitalize()} split — {setting_label(model, inv, radius, length)}", ""]
            if with_paper:
                head = "| data set | metric | " + " | ".join(f"{METHODS[m]} ours | paper | Δ" for m in methods) + " |"
                out += [head, "|---|---|" + "---|---|---|" * len(methods)]
            else:
                out += [
                    "| data set | metric | " + " | ".join(METHODS[m] for m in methods) + " | best |",
                    "|---|---|" + "---|" * len(methods) + "---|",
                ]
            for d in datasets:
                ds = DATASETS[d]
                cells = []
                got = {m: summary.get((d, split, model, inv, radius, length, m)) for m in methods}
                present = {m: s for m, s in got.items() if s is not None}
                if not present:
                    continue
                best = max(present, key=lambda m: present[m]["mean"] * (1 if ds.higher_is_better else -1))
                for m in methods:
                    s = got[m]
                    ours = "—" if s is None else f"{s['mean']:.3f} ± {s['sd']:.3f}"
                    if with_paper:
                        p = PAPER[d][m]
                        delta = None if s is None else s["mean"] - p
                        flag = "" if delta is None or abs(delta) <= TOLERANCE else " ⚠"
                        cells.append(f"{ours} | {p:.3f} | {_fmt(delta, sign=True)}{flag}")
                    else:
                        cells.append(f"**{ours}**" if m == best else ours)
                tail = "" if with_paper else f" {METHODS[best]} |"
                out.append(f"| {ds.title} | {ds.metric} | " + " | ".join(cells) + " |" + tail)
            out.append("")
            if with_paper:
                out += ["⚠ = differs from the paper by more than " + f"{TOLERANCE}.", ""]

    # Sort & Slice vs hashed, per configuration
    if "sort_slice" in methods and "hashed" in methods:
        out += [
            "## Sort & Slice vs hashed folding",
            "",
            "Improvement = how much better Sort & Slice's mean is than hashing's (positive: Sort & Slice better); "
            "trials won = folds where Sort & Slice beats hashing on the same split.",
            "",
            "| setting | split | data set | hashed | Sort & Slice | improvement | trials won |",
            "|---|---|---|---|---|---|---|",
        ]
        wins = total = 0
        for model, inv, radius, length in settings:
            for split in splits:
                for d in datasets:
                    h = summary.get((d, split, model, inv, radius, length, "hashed"))
                    s = summary.get((d, split, model, inv, radius, length, "sort_slice"))
                    if h is None or s is None:
                        continue
                    ds = DATASETS[d]
                    imp = (s["mean"] - h["mean"]) * (1 if ds.higher_is_better else -1)
                    per = _paired(rows, d, split, model, inv, radius, length)
                    won = sum(better(ds, b, a) for a, b in per)
                    total += 1
                    wins += better(ds, s["mean"], h["mean"])
                    out.append(
                        f"| {setting_label(model, inv, radius, length)} | {split} | {ds.title} | "
                        f"{h['mean']:.3f} | {s['mean']:.3f} | {imp:+.3f} | {won}/{len(per)} |"
                    )
        out += [
            "",
            f"Sort & Slice beats hashing in **{wins} of {total}** configurations here "
            "(paper: 403 of 480 over its full grid, RF and MLP).",
            "",
        ]

    # acceptance (only when the paper's setting was run)
    acc = acceptance(summary, datasets)
    if acc:
        out += ["## Acceptance checks (random split, RF, ECFP4, L = 1024)", ""] + acc + [""]

    findings = Path(args.findings) if args.findings else None
    if findings is not None and findings.exists():
        out += [findings.read_text().rstrip(), ""]
    return "\n".join(out) + "\n"


def _paired(rows, d, split, model, inv, radius, length):
    """[(hashed, sort_slice)] per (rep, fold) for one configuration."""
    by = {}
    for r in rows:
        if (r["dataset"], r["split"], r["model"], r["invariants"], r["radius"], r["length"]) == (
            d,
            split,
            model,
            inv,
            radius,
            length,
        ) and r["method"] in ("hashed", "sort_slice"):
            by.setdefault((r["rep"], r["fold"]), {})[r["method"]] = r["value"]
    return [(v["hashed"], v["sort_slice"]) for _, v in sorted(by.items()) if len(v) == 2]


def acceptance(summary, datasets) -> list[str]:
    split, model, inv, radius, length = PAPER_SETTING
    lines = []
    for d in datasets:
        ds = DATASETS[d]
        for m in ("hashed", "sort_slice"):
            s = summary.get((d, split, model, inv, radius, length, m))
            if s is None:
                continue
            delta = s["mean"] - PAPER[d][m]
            ok = abs(delta) <= TOLERANCE
            lines.append(
                f"- [{'x' if ok else ' '}] {ds.title}, {METHODS[m]}: {s['mean']:.3f} vs paper "
                f"{PAPER[d][m]:.3f} (Δ {delta:+.3f}, tolerance {TOLERANCE})"
            )
    for d in ("lipophilicity", "aqsoldb", "mpro"):
        h = summary.get((d, split, model, inv, radius, length, "hashed"))
        s = summary.get((d, split, model, inv, radius, length, "sort_slice"))
        if h is None or s is None:
            continue
        ok = better(DATASETS[d], s["mean"], h["mean"])
        lines.append(
            f"- [{'x' if ok else ' '}] {DATASETS[d].title}: Sort & Slice ({s['mean']:.3f}) better than "
            f"hashed ({h['mean']:.3f})"
        )
    return lines


def chart(summary, path: Path) -> None:
    """Bars per pooling method (mean ± SD) for each split x data set; the paper's means as black ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = sorted({(k[2], k[3], k[4], k[5]) for k in summary}, key=lambda s: (s[0] != "rf", s[1], s[2], s[3]))
    default = ("rf", "ecfp", 2, 1024)
    setting = default if default in settings else settings[0]
    model, inv, radius, length = setting
    splits = [s for s in ("random", "scaffold") if any(k[1] == s for k in summary)]
    datasets = [d for d in DATASETS if any(k[0] == d for k in summary)]
    methods = [m for m in METHODS if any(k[6] == m for k in summary)]
    colours = {"hashed": "#8c8c8c", "sort_slice": "#1f77b4", "filtered": "#ff7f0e", "mim": "#2ca02c"}

    fig, axes = plt.subplots(
        len(splits), len(datasets), figsize=(3.1 * len(datasets), 3.2 * len(splits)), squeeze=False
    )
    for i, split in enumerate(splits):
        for j, d in enumerate(datasets):
            ax = axes[i][j]
            ds = DATASETS[d]
            vals, sds, xs, labels = [], [], [], []
            for x, m in enumerate(methods):
                s = summary.get((d, split, model, inv, radius, length, m))
                if s is None:
                    continue
                vals.append(s["mean"])
                sds.append(s["sd"])
                xs.append(x)
                labels.append(m)
            ax.bar(xs, vals, yerr=sds, color=[colours[m] for m in labels], capsize=3, width=0.7)
            lo = min(v - e for v, e in zip(vals, sds)) if vals else 0
            hi = max(v + e for v, e in zip(vals, sds)) if vals else 1
            if (split, model, inv, radius, length) == PAPER_SETTING:
                for x, m in zip(xs, labels):
                    p = PAPER[d][m]
                    ax.plot([x - 0.35, x + 0.35], [p, p], color="black", lw=2, label="paper" if (x == xs[0]) else None)
                    lo, hi = min(lo, p), max(hi, p)
                ax.legend(loc="upper left", fontsize=7, frameon=False)
            pad = 0.25 * (hi - lo) + 1e-3
            ax.set_ylim(lo - pad, hi + pad)
            ax.set_xticks(range(len(methods)))
            ax.set_xticklabels([METHODS[m].replace("Sort & Slice", "S&S") for m in methods], fontsize=8)
            ax.set_title(f"{ds.title}\n{split} split", fontsize=9)
            ax.set_ylabel(f"{ds.metric} ({'higher' if ds.higher_is_better else 'lower'} is better)", fontsize=8)
            ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(
        f"Pooling methods, {setting_label(model, inv, radius, length)} (mean ± SD over CV trials; black: paper)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def _csv_list(text: str, allowed=None, cast=str) -> list:
    items = [cast(t.strip()) for t in text.split(",") if t.strip()]
    if allowed is not None:
        if items == ["all"]:
            return list(allowed)
        bad = [t for t in items if t not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(map(str, allowed))} or all")
    return items


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--datasets",
        default="all",
        type=lambda t: _csv_list(t, DATASETS),
        help=f"comma list of {', '.join(DATASETS)} (default: all)",
    )
    p.add_argument("--splits", default="random,scaffold", type=lambda t: _csv_list(t, ("random", "scaffold")))
    p.add_argument(
        "--methods",
        default="all",
        type=lambda t: _csv_list(t, METHODS),
        help=f"comma list of {', '.join(METHODS)} (default: all)",
    )
    p.add_argument(
        "--models", default="rf", type=lambda t: _csv_list(t, ("rf", "mlp")), help="rf, mlp or rf,mlp (default: rf)"
    )
    p.add_argument("--radius", default="2", type=lambda t: _csv_list(t, cast=int), help="e.g. 2 or 1,2,3")
    p.add_argument("--invariants", default="ecfp", type=lambda t: _csv_list(t, ("ecfp", "fcfp")))
    p.add_argument("--length", default="1024", type=lambda t: _csv_list(t, cast=int), help="e.g. 1024 or 512,4096")
    p.add_argument(
        "--grid",
        action="store_true",
        help="the paper's grid: radius 1,2,3 x ECFP,FCFP x L 512,1024,2048,4096 (overrides the three)",
    )
    p.add_argument("--folds", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=42, help="split seeds are seed + repeat (paper: 42)")
    p.add_argument(
        "--stratify",
        action="store_true",
        help="random splits of classification sets by StratifiedKFold (paper code's option; default KFold)",
    )
    p.add_argument(
        "--subsample",
        type=int,
        default=None,
        help="use a seeded random subset of this many molecules per data set (quick checks)",
    )
    p.add_argument("--no-chirality", dest="chirality", action="store_false", help="paper: chirality on")
    p.add_argument("--tie-break", default="larger_id_first", choices=("larger_id_first", "smaller_id_first"))
    p.add_argument("--n-jobs", type=int, default=1, help="RF trees / ECFP threads in parallel (default 1)")
    p.add_argument(
        "--mlp-backend",
        default="auto",
        choices=("auto", "torch", "sklearn"),
        help="auto: PyTorch (the paper's MLP) when installed, else scikit-learn's MLP",
    )
    p.add_argument("--mlp-epochs", type=int, default=250)
    p.add_argument("--rf-trees", type=int, default=100, help="trees per random forest (paper: 100)")
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--name", default="paper", help="output file stem (default: paper)")
    p.add_argument("--data-dir", default=str(DATA))
    p.add_argument("--resume", action="store_true", help="skip trials already in <name>_trials.csv")
    p.add_argument(
        "--findings",
        default=str(HERE / "paper_findings.md"),
        help="Markdown appended to the report when the file exists (the written analysis)",
    )
    p.add_argument("--no-chart", dest="chart", action="store_false", help="skip the PNG (needs matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.grid:
        args.radius, args.invariants, args.length = [1, 2, 3], ["ecfp", "fcfp"], [512, 1024, 2048, 4096]
    if args.mlp_backend == "auto":
        args.mlp_backend = "torch" if torch_available() else "sklearn"
    elif args.mlp_backend == "torch" and not torch_available():
        p.error("--mlp-backend torch: PyTorch is not installed")
    return args


def _scan(smiles: list[str]) -> tuple[int, int]:
    """(SMILES RDKit cannot parse, molecules whose canonical SMILES occurred before)."""
    from rdkit import Chem

    seen, dup, bad = set(), 0, 0
    for s in smiles:
        m = Chem.MolFromSmiles(s)
        bad += m is None
        c = Chem.MolToSmiles(m) if m is not None else s
        dup += c in seen
        seen.add(c)
    return bad, dup


def main(argv=None) -> dict:
    t0 = time.perf_counter()
    args = parse_args(argv)
    load_before = load_average()
    from rdkit import RDLogger

    import sortslice

    RDLogger.DisableLog("rdApp.*")
    try:
        from tqdm.auto import tqdm
    except ImportError:  # progress is optional
        tqdm = None

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    trials_path = out_dir / f"{args.name}_trials.csv"
    done_rows = read_trials(trials_path) if args.resume else []
    done = {trial_key(r) for r in done_rows}
    if not args.resume and trials_path.exists():
        trials_path.unlink()
    new_file = not trials_path.exists()
    fh = open(trials_path, "a", newline="")
    writer = csv.DictWriter(fh, fieldnames=FIELDS)
    if new_file:
        writer.writeheader()

    settings = [(inv, r, L) for inv in args.invariants for r in args.radius for L in args.length]
    # trial list first, so the progress bar knows the total
    plan = []
    data, info = {}, {}
    for key in args.datasets:
        ds = DATASETS[key]
        smiles, y = load_dataset(ds, Path(args.data_dir))
        if args.subsample and args.subsample < len(smiles):
            keep = np.sort(np.random.default_rng(args.seed).choice(len(smiles), args.subsample, replace=False))
            if ds.task == "classification" and len(np.unique(y[keep])) < 2:
                raise SystemExit(f"{key}: the subsample has a single class; use a larger --subsample")
            smiles, y = [smiles[i] for i in keep], y[keep]
        splits = {}
        invalid, dups = _scan(smiles)
        d_info = {"n": len(smiles), "invalid": invalid, "duplicates": dups}
        if "random" in args.splits:
            splits["random"] = random_splits(
                len(smiles),
                args.folds,
                args.repeats,
                args.seed,
                y if (args.stratify and ds.task == "classification") else None,
            )
        if "scaffold" in args.splits:
            sc = generic_scaffolds(smiles)
            splits["scaffold"] = scaffold_splits(sc, args.folds, args.repeats, args.seed)
            missing = sum(s is None for s in sc)
            d_info["scaffolds"] = str(len({s for s in sc if s is not None})) + (
                f" ({missing} without scaffold, left out)" if missing else ""
            )
            d_info["scaffold_folds"] = " / ".join(str(len(te)) for rep, _, _, te in splits["scaffold"] if rep == 0)
        data[key] = (ds, smiles, y, splits)
        info[key] = d_info
        for split, trials in splits.items():
            for rep, fold, tr, te in trials:  # noqa: B007  (tr, te: the last split, used below)
                for inv, r, L in settings:
                    for model in args.models:
                        for m in args.methods:
                            k = (key, split, model, inv, r, L, m, rep, fold)
                            if k not in done:
                                plan.append(k)

    bar = (
        tqdm(total=len(plan), unit="trial", dynamic_ncols=True, disable=args.quiet or tqdm is None, desc="paper")
        if tqdm
        else None
    )
    rows = list(done_rows)
    todo = set(plan)
    for key, (ds, smiles, y, splits) in data.items():
        for inv, r, L in settings:
            if not any(k[0] == key and k[3] == inv and k[4] == r for k in todo):
                continue
            fp = sortslice.ecfp(smiles, radius=r, invariants=inv, chirality=args.chirality, n_jobs=args.n_jobs)
            if fp.n_invalid != info[key]["invalid"]:
                info[key]["invalid"] = f"{info[key]['invalid']} (ECFP: {fp.n_invalid})"
            for split, trials in splits.items():
                for rep, fold, tr, te in trials:  # noqa: B007  (tr, te: the last split, used below)
                    for m in args.methods:
                        models = [mo for mo in args.models if (key, split, mo, inv, r, L, m, rep, fold) in todo]
                        if not models:
                            continue
                        if bar is not None:
                            bar.set_description(f"{key} {split} {inv}{2 * r}/{L} {m} {rep}.{fold}")
                        t1 = time.perf_counter()
                        f = make_featuriser(
                            m,
                            radius=r,
                            invariants=inv,
                            length=L,
                            chirality=args.chirality,
                            task=ds.task,
                            tie_break=args.tie_break,
                            n_jobs=args.n_jobs,
                        )
                        X_tr, X_te = featurise(m, f, smiles, fp, y, tr, te)
                        t_feat = time.perf_counter() - t1
                        for model in models:
                            t2 = time.perf_counter()
                            pred = fit_predict(
                                model,
                                ds.task,
                                X_tr,
                                y[tr],
                                X_te,
                                n_jobs=args.n_jobs,
                                mlp_backend=args.mlp_backend,
                                mlp_epochs=args.mlp_epochs,
                                rf_trees=args.rf_trees,
                            )
                            row = {
                                "dataset": key,
                                "split": split,
                                "model": model,
                                "invariants": inv,
                                "radius": r,
                                "length": L,
                                "method": m,
                                "rep": rep,
                                "fold": fold,
                                "metric": ds.metric,
                                "value": score(ds.task, y[te], pred),
                                "n_train": len(tr),
                                "n_test": len(te),
                                "seconds": round(t_feat + time.perf_counter() - t2, 3),
                            }
                            writer.writerow(row)
                            fh.flush()
                            rows.append(row)
                            if bar is not None:
                                bar.update(1)
    if bar is not None:
        bar.close()
    fh.close()

    wall = time.perf_counter() - t0
    summary = summarise(rows)
    argv_used = list(sys.argv[1:] if argv is None else argv)
    run = {
        "command": " ".join(["python perf/paper_reproduction.py", shlex.join(argv_used)]).strip(),
        "wall": round(wall, 1),
        "new_trials": len(plan),
        "load_before": load_before,
        "load_after": load_average(),
        "git": git_commit(dirty=" (work tree has uncommitted changes)"),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    # runs that produced the trials file (a --resume that runs nothing only redraws the report)
    runs_path = out_dir / f"{args.name}_runs.json"
    runs = json.loads(runs_path.read_text()) if (args.resume and runs_path.exists()) else []
    if plan or not runs:
        runs.append(run)
    runs_path.write_text(json.dumps(runs, indent=1) + "\n")
    lib = Path(sortslice.__file__).resolve().parent
    meta = {
        "runs": runs,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "versions": (
            versions("sortslice")
            + ("" if lib == (ROOT / "frontends").resolve() else f" (imported from {lib})")
            + f", {versions('RDKit', 'scikit-learn', 'NumPy', python=False)}"
        ),
        "mlp_backend": args.mlp_backend,
    }
    md_path, png_path = out_dir / f"{args.name}.md", out_dir / f"{args.name}.png"
    if args.chart:
        chart(summary, png_path)
    md_path.write_text(report(summary, rows, args, info, wall, meta))
    written = [str(md_path)] + ([str(png_path)] if args.chart else []) + [str(trials_path)]
    print(f"wrote {', '.join(written)} in {wall / 60:.1f} min", file=sys.stderr)
    return {
        "summary": summary,
        "rows": rows,
        "markdown": md_path,
        "chart": png_path,
        "trials": trials_path,
        "wall": wall,
    }


if __name__ == "__main__":
    main()
