"""`<Rating>`: a regressor predicts a whole number of stars, from 1 to the tag's maxRating.

Everything but the answer's key and bounds is as for `<Number>` (see number.py), including the
prediction score from the expected error.
"""

from __future__ import annotations

from ..labelconfig import ControlTag, LabelConfig
from .base import TargetProblem, UnreadableAnswer
from .number import NumberTarget

DEFAULT_MAX_RATING = 5  # Label Studio's default


def max_rating(control: ControlTag) -> int | None:
    text = control.attribute("maxRating", str(DEFAULT_MAX_RATING))
    return int(text) if text is not None and text.isdigit() else None


class RatingTarget(NumberTarget):
    kind = "rating"
    tags = ("Rating",)
    value_key = "rating"

    def __init__(self, control: ControlTag, options: dict | None = None) -> None:
        super().__init__(control, options)
        self.low, self.high, self.step = 1.0, float(max_rating(control) or DEFAULT_MAX_RATING), 1.0

    @classmethod
    def bounds(cls, control: ControlTag) -> tuple[float | None, float | None]:
        return 1.0, float(max_rating(control) or DEFAULT_MAX_RATING)

    @classmethod
    def problems(cls, control: ControlTag, config: LabelConfig) -> list[TargetProblem]:
        top = max_rating(control)
        if top is None or top < 2:
            return [TargetProblem("invalid-value", f"'{control.name}' has maxRating={control.attribute('maxRating')!r}; "
                                  "a rating model needs a whole number of 2 or more")]
        return super(NumberTarget, cls).problems(control, config)

    def answer(self, result: object) -> int:
        value = super().answer(result)
        if float(value) != int(value):
            raise UnreadableAnswer("not-a-number", f"'{self.name}' holds {value}, not a whole number of stars")
        return int(value)

    def as_json(self, value: float) -> int:
        return int(round(value))
