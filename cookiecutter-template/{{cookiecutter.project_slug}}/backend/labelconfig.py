"""Read a Label Studio labeling config: its control tags, object tags and labels.

Shared with the mlgen generator, which checks specs with this very parser, so it imports nothing
beyond the standard library and defusedxml.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

# Tags that display task data (value="$field") and that a control tag can point at with toName.
OBJECT_TAGS = frozenset(
    {
        "Text", "HyperText", "Paragraphs", "Table", "Image", "Audio", "AudioPlus", "Video",
        "TimeSeries", "List", "Ranker", "Pdf", "Markdown", "Chat",
    }
)
# Tags that hold an annotation result; the key of each in a result is its lowercase name.
CONTROL_TAGS = frozenset(
    {
        "Choices", "Labels", "RectangleLabels", "PolygonLabels", "KeyPointLabels", "BrushLabels",
        "EllipseLabels", "HyperTextLabels", "ParagraphLabels", "TimeSeriesLabels",
        "VideoRectangle", "Rectangle", "Polygon", "KeyPoint", "Brush", "Ellipse", "TextArea",
        "Number", "Rating", "Taxonomy", "Pairwise", "Relations", "DateTime", "Ranker",
    }
)
# Control tags whose labels are given by child tags, and the name of that child tag.
LABEL_CHILD = {"Choices": "Choice", "Taxonomy": "Choice"}


class LabelConfigError(ValueError):
    """The labeling config is not well-formed XML, or is unsafe to parse."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class ObjectTag:
    tag: str
    name: str
    value: str  # the value attribute, e.g. "$text"

    @property
    def field(self) -> str | None:
        """The task-data key the object shows: 'text' for value="$text", else None."""
        return self.value[1:] if self.value.startswith("$") and len(self.value) > 1 else None


@dataclass(frozen=True)
class ControlTag:
    tag: str
    name: str
    to_names: tuple[str, ...]
    labels: tuple[str, ...]
    choice: str = "single"

    @property
    def type(self) -> str:
        """The `type` of this tag's regions in a prediction result."""
        return self.tag.lower()


@dataclass(frozen=True)
class LabelConfig:
    controls: dict[str, ControlTag] = field(default_factory=dict)
    objects: dict[str, ObjectTag] = field(default_factory=dict)
    data_refs: frozenset[str] = frozenset()  # every $field the config shows anywhere


def parse_label_config(xml: str) -> LabelConfig:
    """Parse labeling-config XML; raise LabelConfigError with a line number when it is bad."""
    try:
        root = fromstring(xml)
    except DefusedXmlException as exc:
        raise LabelConfigError(f"refusing unsafe XML ({type(exc).__name__}): {exc}") from None
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise LabelConfigError(f"labeling config is not valid XML: {exc}", line) from None
    if root.tag != "View":
        raise LabelConfigError(f"the labeling config's root tag must be <View>, not <{root.tag}>", 1)

    controls: dict[str, ControlTag] = {}
    objects: dict[str, ObjectTag] = {}
    refs: set[str] = set()
    for element in root.iter():
        value = element.get("value", "")
        if value.startswith("$") and len(value) > 1:
            refs.add(value[1:])
        name = element.get("name")
        if not name:
            continue
        if element.tag in OBJECT_TAGS and element.tag not in CONTROL_TAGS:
            objects[name] = ObjectTag(element.tag, name, value)
        elif element.tag in CONTROL_TAGS:
            to_names = tuple(t.strip() for t in element.get("toName", "").split(",") if t.strip())
            controls[name] = ControlTag(
                tag=element.tag,
                name=name,
                to_names=to_names,
                labels=_labels(element),
                choice=element.get("choice", "single"),
            )
    return LabelConfig(controls=controls, objects=objects, data_refs=frozenset(refs))


def _labels(control: ET.Element) -> tuple[str, ...]:
    child = LABEL_CHILD.get(control.tag, "Label")
    labels: list[str] = []
    for element in control.iter(child):
        value = element.get("value", element.get("alias"))
        if value is not None and value not in labels:
            labels.append(value)
    return tuple(labels)


def find_target(config: LabelConfig, target: str | None) -> ControlTag:
    """The control tag a backend predicts: the named one, or the only one."""
    if target is not None:
        try:
            return config.controls[target]
        except KeyError:
            known = ", ".join(sorted(config.controls)) or "none"
            raise LookupError(f"no control tag named '{target}' (control tags: {known})") from None
    if len(config.controls) != 1:
        known = ", ".join(sorted(config.controls)) or "none"
        raise LookupError(f"'target' must name one of the control tags: {known}")
    return next(iter(config.controls.values()))


def compatibility_problems(config: LabelConfig, target: ControlTag, fields: list[str]) -> list[str]:
    """Why a project's labeling config cannot serve a backend built for `target` and `fields`.

    The project may add labels the model never predicts, but every label the model can predict
    must exist in the project, and the target and its input object must be there under the same
    names.
    """
    problems: list[str] = []
    theirs = config.controls.get(target.name)
    if theirs is None:
        return [f"the labeling config has no <{target.tag} name=\"{target.name}\">"]
    if theirs.tag != target.tag:
        problems.append(f"'{target.name}' is a <{theirs.tag}>, the model predicts a <{target.tag}>")
    if theirs.choice != target.choice:
        problems.append(f"'{target.name}' has choice=\"{theirs.choice}\", the model was built for \"{target.choice}\"")
    missing = [label for label in target.labels if label not in theirs.labels]
    if missing:
        problems.append(f"'{target.name}' lacks the labels {', '.join(map(repr, missing))}")
    to_name = target.to_names[0] if target.to_names else None
    if to_name not in theirs.to_names:
        problems.append(f"'{target.name}' does not point at the object '{to_name}'")
    top_fields = sorted({f.split(".")[0] for f in fields} - config.data_refs)
    if top_fields:
        problems.append(f"the labeling config shows no data field {', '.join(map(repr, top_fields))}")
    return problems
