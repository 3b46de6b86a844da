"""What the samples' make_tasks.py scripts share: which tasks are annotated and where, and the
command line that writes (or checks) tasks.json and heldout_labels.json.

Annotated tasks are split over the classes in proportion to their sizes and ordered so that every
prefix of them is itself stratified; they are then spread at random positions among the rest.
Samples whose labels are not one class per task (numbers, sets of choices) order their annotated
tasks themselves and use `spread` for the second step.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path


def allocate(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` over the classes in proportion to their sizes (largest remainder)."""
    whole = sum(sizes.values())
    exact = {label: total * size / whole for label, size in sizes.items()}
    counts = {label: int(share) for label, share in exact.items()}
    by_remainder = sorted(exact, key=lambda label: (-(exact[label] - counts[label]), label))
    for label in by_remainder[: total - sum(counts.values())]:
        counts[label] += 1
    return counts


def layout(items: dict[str, list], n_annotated: int, rng: random.Random) -> list[tuple[object, object, bool]]:
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
    return spread(annotated, rest, rng)


def spread(annotated: list[tuple[object, object]], rest: list[tuple[object, object]],
           rng: random.Random) -> list[tuple[object, object, bool]]:
    """(item, label, annotated) for every item: the annotated ones, in their order, at random
    positions among the others (shuffled)."""
    rest = list(rest)
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


def dump(items: list) -> str:
    """A JSON list with one item per line: small diffs, still easy to read."""
    return "[\n" + ",\n".join(json.dumps(item, ensure_ascii=False, allow_nan=False) for item in items) + "\n]\n"


def main(build: Callable[[], tuple[list[dict], list]], here: Path,
         group: Callable[[object], Iterable[str]] | None = None) -> int:
    """The command line. `group` names the rows of the printed summary that a label counts
    under (default: the label itself); it does not change the files."""
    parser = argparse.ArgumentParser(description="Write the sample's tasks.json and heldout_labels.json.")
    parser.add_argument("--out", type=Path, default=here, help="output folder (default: next to the script)")
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args()
    tasks, labels = build()
    files = {"tasks.json": dump(tasks), "heldout_labels.json": dump(labels)}
    if args.check:
        stale = [name for name, text in files.items()
                 if not (args.out / name).exists() or (args.out / name).read_text(encoding="utf-8") != text]
        print(f"stale: {', '.join(stale)}" if stale else "up to date")
        return 1 if stale else 0
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for task, label in zip(tasks, labels):
        for name in (group(label) if group else [label]):
            counts[name][0] += 1
            counts[name][1] += "annotations" in task
    print(f"{len(tasks)} tasks, {sum('annotations' in task for task in tasks)} annotated")
    for label, (n, n_annotated) in sorted(counts.items()):
        print(f"  {label:12s} {n:4d} tasks, {n_annotated:3d} annotated")
    return 0
