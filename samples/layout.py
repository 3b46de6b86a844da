"""How the samples' make_tasks.py scripts order tasks: which are annotated, and where.

Annotated tasks are split over the classes in proportion to their sizes and ordered so that every
prefix of them is itself stratified; they are then spread at random positions among the rest.
"""

from __future__ import annotations

import random


def allocate(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` over the classes in proportion to their sizes (largest remainder)."""
    whole = sum(sizes.values())
    exact = {label: total * size / whole for label, size in sizes.items()}
    counts = {label: int(share) for label, share in exact.items()}
    by_remainder = sorted(exact, key=lambda label: (-(exact[label] - counts[label]), label))
    for label in by_remainder[: total - sum(counts.values())]:
        counts[label] += 1
    return counts


def layout(items: dict[str, list], n_annotated: int, rng: random.Random) -> list[tuple[object, str, bool]]:
    """(item, label, annotated) for every item: annotated ones stratified, spread over the list."""
    for label in sorted(items):
        rng.shuffle(items[label])
    quota = allocate({label: len(v) for label, v in items.items()}, n_annotated)
    keyed = []
    for label in sorted(items):
        n = quota[label]
        keyed += [((i + 0.5) / n, rng.random(), item, label) for i, item in enumerate(items[label][:n])]
    keyed.sort(key=lambda k: (k[0], k[1]))
    annotated = [(item, label) for _, _, item, label in keyed]
    rest = [(item, label) for label in sorted(items) for item in items[label][quota[label]:]]
    rng.shuffle(rest)
    positions = set(rng.sample(range(len(annotated) + len(rest)), len(annotated)))
    annotated_iter, rest_iter = iter(annotated), iter(rest)
    out = []
    for position in range(len(annotated) + len(rest)):
        if position in positions:
            out.append((*next(annotated_iter), True))
        else:
            out.append((*next(rest_iter), False))
    return out
