"""Sorting inside kernels: heapsort, in place, no allocation.

Numba's own ``np.sort``/``np.argsort`` instantiate its quicksort for every dtype, which costs
about a second of compile time each; these few lines compile in a fraction of that. They serve
the rare long rows (molecules of more than 128 atoms, rows of more than 256 ids); short ones are
sorted by rank or insertion where they occur.
"""

from __future__ import annotations

from ._jit import kernel


@kernel
def heap_order(keys, m, order):
    """Heapsort order of keys[:m] into ``order[:m]`` (Numba's general sort costs seconds to compile)."""
    for i in range(m):
        order[i] = i
    start = m // 2 - 1
    end = m - 1
    while True:
        if start >= 0:
            root = start
            start -= 1
        elif end > 0:
            t = order[0]
            order[0] = order[end]
            order[end] = t
            end -= 1
            root = 0
        else:
            return
        while True:
            child = 2 * root + 1
            if child > end:
                break
            if child + 1 <= end and keys[order[child]] < keys[order[child + 1]]:
                child += 1
            if keys[order[root]] < keys[order[child]]:
                t = order[root]
                order[root] = order[child]
                order[child] = t
                root = child
            else:
                break


@kernel
def heap_sort(a):
    """Sort ``a`` in place (heapsort: no allocation, and a fraction of Numba's sort's compile time)."""
    m = a.shape[0]
    start = m // 2 - 1
    end = m - 1
    while True:
        if start >= 0:
            root = start
            start -= 1
        elif end > 0:
            t = a[0]
            a[0] = a[end]
            a[end] = t
            end -= 1
            root = 0
        else:
            return
        while True:
            child = 2 * root + 1
            if child > end:
                break
            if child + 1 <= end and a[child] < a[child + 1]:
                child += 1
            if a[root] < a[child]:
                t = a[root]
                a[root] = a[child]
                a[child] = t
                root = child
            else:
                break
