"""Target kinds: what a backend predicts, one module per kind, chosen from the control tag.

Adding a kind: a module here with a `Target` subclass, its entry in KINDS, the control tag's
entry in the spec schema's docs, a sample and its tests.
"""

from __future__ import annotations

from typing import Any

from ..labelconfig import ControlTag
from .base import Target, TargetProblem, UnreadableAnswer, answer_key
from .multiple_choice import MultipleChoice
from .number import NumberTarget
from .rating import RatingTarget
from .single_choice import SingleChoice
from .spans import SpanTarget

KINDS: tuple[type[Target], ...] = (SingleChoice, MultipleChoice, NumberTarget, RatingTarget, SpanTarget)

__all__ = ["KINDS", "Target", "TargetProblem", "UnreadableAnswer", "answer_key", "kind_of", "make_target"]


def kind_of(control: ControlTag) -> type[Target] | None:
    """The kind that predicts this control tag, or None when no kind does."""
    return next((kind for kind in KINDS if kind.accepts(control)), None)


def make_target(control: ControlTag, options: dict[str, Any] | None = None) -> Target:
    """The target for a control tag, with the spec's `prediction` options."""
    kind = kind_of(control)
    if kind is None:
        raise LookupError(f"mlgen cannot predict <{control.tag}> '{control.name}'")
    return kind(control, options)
