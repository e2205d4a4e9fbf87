"""Running on a Dask cluster: connecting to one, running a list of tasks with a progress bar, and what a
distributed fit or transform reports (:mod:`sortslice.dask` builds the task graphs; ``import sortslice``
never imports this).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import dask

from .jobs import invalid_warning


@dataclass(frozen=True)
class FitSummary:
    """What a distributed fit saw (the CLI prints it).

    All zeros for a :class:`~sortslice.HashFold`, which reads no molecule.

    Attributes
    ----------
    rows : int
        Input rows read.
    n_molecules, n_invalid : int
        Valid molecules counted, and invalid ones left out.
    first_problem : str or None
        The first invalid molecule in data order: its file or partition, row (1-based) and reason; or None.
    n_partitions : int
        Partitions of the data set.
    seconds : float
        Wall time of the fit.
    """

    rows: int
    n_molecules: int
    n_invalid: int
    first_problem: str | None
    n_partitions: int
    seconds: float


def compute(client, *tasks, progress: str | None = None, done: int = 0):
    """Results of ``tasks`` in order; with ``progress`` (a label), a bar of finished tasks on stderr
    (starting from ``done``: parts a resumed run found complete)."""
    if progress is not None:
        tasks = run_with_bar(client, list(tasks), progress, done)
    if client is not None:
        return tuple(client.compute(list(tasks), sync=True))
    return dask.compute(*tasks)


def default_client():
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def run_with_bar(client, tasks: list, label: str, done: int = 0) -> list:
    """Run ``tasks`` with a bar of finished tasks on stderr; returns delayed objects for their results.

    On a cluster the results stay on the workers (``persist``): a later graph built on
    them (the prevalence reduction) runs there without shipping states to the client.
    """
    import sys

    from tqdm import tqdm

    client = client if client is not None else default_client()
    with tqdm(
        total=done + len(tasks), initial=done, unit=" part", desc=label, file=sys.stderr, dynamic_ncols=True
    ) as bar:
        if client is not None:
            from distributed import as_completed, futures_of

            persisted = client.persist(tasks)
            for _ in as_completed(futures_of(persisted)):
                bar.update(1)
            return persisted
        from dask.diagnostics import Callback

        keys = {t.key for t in tasks}

        class _Bar(Callback):
            def _posttask(self, key, result, dsk, state, id):
                if key in keys:
                    bar.update(1)

        with _Bar():
            return [dask.delayed(r, pure=True) for r in dask.compute(*tasks)]


@dataclass(frozen=True)
class TransformSummary:
    """What a distributed transform wrote (the CLI prints the warning line from it).

    Tallies count every part of the folder, those a resumed run kept (``kept`` of them)
    included; ``notes`` says which parts were found incomplete or foreign and written again.

    Attributes
    ----------
    paths : list
        The parts of the folder, in partition order.
    rows : int
        Input rows.
    written : int
        Rows written (fewer than ``rows`` with ``errors="skip"``).
    invalid : int
        Invalid molecules.
    first_problem : str or None
        Where and why the first invalid molecule in part order is invalid, or None.
    seconds : float
        Wall time of the transform.
    kept : int, default 0
        Parts a resumed run found complete and kept.
    notes : tuple of str, default ()
        One line per part removed or written again, and why.
    """

    paths: list
    rows: int
    written: int
    invalid: int
    first_problem: str | None
    seconds: float
    kept: int = 0
    notes: tuple = ()

    def warning(self, consequence: str) -> str | None:
        return invalid_warning(self.invalid, self.rows, self.first_problem, consequence)


# ========================================================================== clusters
@contextlib.contextmanager
def connect(scheduler: str | None = None, local_workers: int | None = None, **cluster_kwargs):
    """A ``distributed.Client``: to ``scheduler`` (an address), or to a new local cluster.

    The local cluster has ``local_workers`` worker processes (default: one per
    core) of one thread each — the right shape for RDKit parsing, which holds the
    GIL.  Both are closed on exit.

    Parameters
    ----------
    scheduler
        The address of a running scheduler (e.g. ``"tcp://host:8786"``); ``None`` starts a local cluster.
    local_workers
        Worker processes of the local cluster (``None``: one per core); not with ``scheduler``.
    **cluster_kwargs
        Passed to ``distributed.LocalCluster`` (overriding the shape above); unused with ``scheduler``.

    Yields
    ------
    distributed.Client
        The connected client.

    Examples
    --------
    >>> from sortslice.dask import connect
    >>> with connect(local_workers=1, dashboard_address=None) as client:   # doctest: +SKIP
    ...     model = fit_partitioned(sortslice.SortSlice(), "data/*.parquet", client=client)
    """
    from distributed import Client, LocalCluster

    if scheduler is not None and local_workers is not None:
        raise ValueError("give a scheduler address or a number of local workers, not both")
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    from .engine.parallel import cpu_count

    kwargs = dict(n_workers=local_workers or cpu_count(), threads_per_worker=1, processes=True)
    kwargs.update(cluster_kwargs)
    with LocalCluster(**kwargs) as cluster, Client(cluster) as client:
        yield client
