"""backend/garbage.py: what is loaded leaves the garbage collector's full passes, and a cycle
among frozen objects is still collected at the next freeze."""

from __future__ import annotations

import gc
import weakref

from backend.garbage import freeze_loaded


class Node:
    pass


def cycle() -> tuple[Node, weakref.ref]:
    node = Node()
    node.self = node
    return node, weakref.ref(node)


def test_frozen_objects_leave_full_passes_and_frozen_cycles_go_at_the_next_freeze():
    try:
        garbage, garbage_ref = cycle()
        del garbage
        kept, kept_ref = cycle()
        freeze_loaded()
        assert garbage_ref() is None, "a cycle unreachable before the freeze is collected first"
        assert gc.get_freeze_count() > 0 and kept_ref() is not None
        del kept
        gc.collect()
        assert kept_ref() is not None, "a full pass leaves frozen objects alone"
        freeze_loaded()
        assert kept_ref() is None, "the next freeze walks the frozen ones again"
    finally:
        gc.unfreeze()
