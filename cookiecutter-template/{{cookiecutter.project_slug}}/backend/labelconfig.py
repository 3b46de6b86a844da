"""Read a Label Studio labeling config: its control tags, object tags and labels, with positions.

Shared with the mlgen generator, which checks specs with this very parser, so it imports nothing
beyond the standard library and defusedxml.
"""

from __future__ import annotations

import xml.sax
from dataclasses import dataclass, field
from typing import Any

import defusedxml.sax
from defusedxml import DefusedXmlException

# Tags that display task data (value="$field") and that a control tag can point at with toName.
OBJECT_TAGS = frozenset(
    {
        "Text", "HyperText", "Paragraphs", "Table", "Image", "Audio", "AudioPlus", "Video",
        "TimeSeries", "List", "Pdf", "Markdown", "Chat",
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
# Control tags whose labels are given by child tags other than <Label>.
LABEL_CHILD = {"Choices": "Choice", "Taxonomy": "Choice"}


class LabelConfigError(ValueError):
    """The labeling config is not well-formed XML, or is unsafe to parse."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class ObjectTag:
    tag: str
    name: str
    value: str  # the value attribute, e.g. "$text"
    line: int = 1  # where the tag starts in the XML, 1-based
    column: int = 1

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
    line: int = 1
    column: int = 1
    attributes: tuple[tuple[str, str], ...] = ()  # every attribute of the tag, as written

    def attribute(self, name: str, default: str | None = None) -> str | None:
        return dict(self.attributes).get(name, default)

    @property
    def type(self) -> str:
        """The `type` of this tag's regions in a prediction result."""
        return self.tag.lower()


@dataclass(frozen=True)
class LabelConfig:
    controls: dict[str, ControlTag] = field(default_factory=dict)
    objects: dict[str, ObjectTag] = field(default_factory=dict)
    data_refs: frozenset[str] = frozenset()  # every $field the config shows anywhere


def parse_label_config(xml_text: str) -> LabelConfig:
    """Parse labeling-config XML; raise LabelConfigError, with its position, when it is bad.

    defusedxml refuses entity declarations and external references, so a config cannot make
    the parser expand a billion laughs or read a local file.
    """
    collector = _Collector()
    try:
        defusedxml.sax.parseString(xml_text.encode("utf-8"), collector)
    except DefusedXmlException as exc:
        raise LabelConfigError(
            f"refusing unsafe XML: {type(exc).__name__} (entity declarations and external "
            "references are not allowed)", *collector.position()
        ) from None
    except xml.sax.SAXParseException as exc:
        raise LabelConfigError(
            f"labeling config is not valid XML: {exc.getMessage()}",
            exc.getLineNumber() or 1, (exc.getColumnNumber() or 0) + 1,
        ) from None
    return LabelConfig(collector.controls, collector.objects, frozenset(collector.refs))


class _Collector(xml.sax.ContentHandler):
    """Gathers control and object tags, their labels and every $field, with positions."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: dict[str, ControlTag] = {}
        self.objects: dict[str, ObjectTag] = {}
        self.refs: set[str] = set()
        self._depth = 0
        self._open: list[dict[str, Any]] = []  # control tags being read, innermost last
        self._locator: Any = None

    def setDocumentLocator(self, locator: Any) -> None:
        self._locator = locator

    def position(self) -> tuple[int, int]:
        """Where the parser is now, 1-based."""
        if self._locator is None:
            return 1, 1
        return self._locator.getLineNumber() or 1, (self._locator.getColumnNumber() or 0) + 1

    def startElement(self, tag: str, attrs: Any) -> None:
        line, column = self._locator.getLineNumber(), self._locator.getColumnNumber() + 1
        if self._depth == 0 and tag != "View":
            raise LabelConfigError(f"the labeling config's root tag must be <View>, not <{tag}>", line, column)
        self._depth += 1
        value = attrs.get("value", "")
        if value.startswith("$") and len(value) > 1:
            self.refs.add(value[1:])
        for control in self._open:
            if tag == LABEL_CHILD.get(control["tag"], "Label"):
                label = attrs.get("value", attrs.get("alias"))
                if label is not None and label not in control["labels"]:
                    control["labels"].append(label)
        name = attrs.get("name")
        if tag in CONTROL_TAGS:
            self._open.append({"tag": tag, "attrs": dict(attrs), "labels": [], "line": line,
                               "column": column, "depth": self._depth})
        elif name and tag in OBJECT_TAGS:
            self.objects[name] = ObjectTag(tag, name, value, line, column)

    def endElement(self, tag: str) -> None:
        if self._open and self._open[-1]["depth"] == self._depth:
            control = self._open.pop()
            attrs = control["attrs"]
            if attrs.get("name"):
                self.controls[attrs["name"]] = ControlTag(
                    tag=control["tag"],
                    name=attrs["name"],
                    to_names=tuple(t.strip() for t in attrs.get("toName", "").split(",") if t.strip()),
                    labels=tuple(control["labels"]),
                    choice=attrs.get("choice", "single"),
                    line=control["line"],
                    column=control["column"],
                    attributes=tuple(sorted(attrs.items())),
                )
        self._depth -= 1


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
