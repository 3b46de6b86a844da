"""Semantic checks of a spec, against the labeling config and scikit-learn.

Each check is a function registered with `@check`; all run, and all their problems are
reported together. They also run on a spec with schema errors, so that one run reports
everything, but a check reads only what the schema accepted: it declares the spec paths it
needs (`@check(needs=...)`), and is skipped when one is invalid, and it asks `ctx.valid` (or
`ctx.features`) before it reads a part of its own, such as one feature entry, so a bad entry
hides no other entry's problems. A check never catches its own exceptions: reading data the
schema rejected is avoided by design, and any exception left is a bug that `mlgen` reports as
one (exit status 3), never a silently shorter list of problems.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import custom
from .estimators import find_estimator, has_predict_proba, param_problems, required_params
from .loader import JsonPath, LoadedSpec
from .problems import Problem
from .runtime import runtime_module


@dataclass
class Context:
    """What the checks share: the spec, where the schema rejected it, and what earlier checks
    found out."""

    loaded: LoadedSpec
    invalid: frozenset[JsonPath] = frozenset()  # where schema errors lie (validate.invalid_paths)
    problems: list[Problem] = field(default_factory=list)
    config: Any = None  # the parsed labeling config
    xml_file: Path | None = None  # where it came from, when not inline
    target: Any = None  # its target (a targets.Target of the kind that predicts the control tag)
    estimator_type: str | None = None  # what model.class must be, as the target's kind says (None: unknown)
    estimator: type | None = None

    @property
    def spec(self) -> dict[str, Any]:
        return self.loaded.data

    def valid(self, *path: str | int) -> bool:
        """Whether the schema accepts the spec at `path`: no schema error lies at it, inside it,
        or at a node that holds it (so every mapping on the way is a mapping). A key the schema
        requires and the spec lacks is invalid; an optional key it lacks is valid (read it with
        .get and its default)."""
        return not any(_overlap(path, bad) for bad in self.invalid)

    def features(self, *keys: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """(index, entry) of each feature whose `keys` are all valid: a check reads the
        features it can, so one bad entry does not hide the problems of the others."""
        entries = self.spec.get("features")
        if not isinstance(entries, list):  # absent or not a list: the schema says so
            return
        for i, feature in enumerate(entries):
            if isinstance(feature, dict) and all(self.valid("features", i, key) for key in keys):
                yield i, feature

    def report(self, path: JsonPath, code: str, message: str, hint: str | None = None,
               severity: str = "error", at_key: bool = False) -> None:
        line, column = self.loaded.position(path, at_key=at_key)
        self.problems.append(Problem(str(self.loaded.path), line, column, severity, code, message, hint))

    def report_xml(self, line: int, column: int, code: str, message: str, hint: str | None = None,
                   severity: str = "error") -> None:
        """A problem at a line and column of the labeling config, inline or in its own file."""
        if self.xml_file is not None:
            file = str(self.xml_file)
        else:
            file = str(self.loaded.path)
            line, column = self._inline_xml_position(line, column)
        self.problems.append(Problem(file, line, column, severity, code, message, hint))

    def _inline_xml_position(self, line: int, column: int) -> tuple[int, int]:
        value = self.loaded.positions[("labeling_config",)]
        if value.style in ("|", ">"):  # a block scalar: its text starts on the next line
            first = value.line  # 0-based index of the first content line
            source = self.loaded.lines[first + line - 1] if first + line - 1 < len(self.loaded.lines) else ""
            indent = len(self.loaded.lines[first]) - len(self.loaded.lines[first].lstrip()) if first < len(self.loaded.lines) else 0
            return first + line, min(indent + column, len(source) + 1)
        if line > 1:  # YAML folds a quoted or plain scalar's line breaks: the XML's are "\\n" escapes
            return value.line, value.column
        quote = 1 if value.style in ("'", '"') else 0
        return value.line, value.column + quote + column - 1


CheckFunction = Callable[[Context], None]


@dataclass(frozen=True)
class Check:
    """A registered check and the spec paths it reads whole."""

    fn: CheckFunction
    needs: tuple[JsonPath, ...]  # each must be schema-valid for the check to run

    def can_run(self, ctx: Context) -> bool:
        return all(ctx.valid(*path) for path in self.needs)


CHECKS: list[Check] = []
PROBA_HINTS = {
    "SGDClassifier": "set params.loss to log_loss (logistic regression) or modified_huber",
    "SVC": "probability=True is deprecated in scikit-learn 1.9; use LogisticRegression, or "
           "SGDClassifier with loss: log_loss, for a linear model with probabilities",
    "LinearSVC": "use LogisticRegression, or SGDClassifier with loss: log_loss: linear models with probabilities",
}


def check(fn: CheckFunction | None = None, *, needs: tuple[str, ...] = ()) -> Any:
    """Register a check (`@check`), or one to run only when every spec path in `needs` is
    schema-valid (`@check(needs=("model.class",))`). A check that reads entries of a list
    declares nothing for them: it asks ctx.features (or ctx.valid) entry by entry."""

    def register(fn: CheckFunction) -> CheckFunction:
        CHECKS.append(Check(fn, tuple(tuple(path.split(".")) for path in needs)))
        return fn

    return register(fn) if fn is not None else register


def run_checks(loaded: LoadedSpec, invalid: frozenset[JsonPath] | None = None) -> list[Problem]:
    """Every problem of the checks that can run, given `invalid`, the paths of the spec's
    schema errors (validate.invalid_paths; found here when not given). An exception in a check
    is a bug and propagates: the CLI reports it as an internal error."""
    if invalid is None:
        from .validate import invalid_paths, schema_errors  # validate imports this module

        invalid = invalid_paths(schema_errors(loaded))
    ctx = Context(loaded, invalid)
    for registered in CHECKS:
        if registered.can_run(ctx):
            registered.fn(ctx)
    return ctx.problems


def _overlap(path: JsonPath, other: JsonPath) -> bool:
    """Whether one path is the other or lies inside it."""
    shorter = min(len(path), len(other))
    return path[:shorter] == other[:shorter]


def labeling_config_text(spec: dict[str, Any], spec_path: Path) -> str:
    """The labeling config's XML: inline, or read from the file the spec names."""
    value = spec["labeling_config"]
    path = labeling_config_file(spec, spec_path)
    return value if path is None else path.read_text(encoding="utf-8")


def labeling_config_file(spec: dict[str, Any], spec_path: Path) -> Path | None:
    """The file the labeling config is read from, or None when it is inline XML."""
    value = spec["labeling_config"]
    return None if value.lstrip().startswith("<") else spec_path.parent / value


@check(needs=("labeling_config",))
def labeling_config(ctx: Context) -> None:
    labelconfig = runtime_module("labelconfig")
    try:
        xml = labeling_config_text(ctx.spec, ctx.loaded.path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL in the path
        ctx.report(("labeling_config",), "label-config-missing", f"cannot read the labeling config: {exc}",
                   "give inline XML starting with '<', or a path relative to this spec")
        return
    ctx.xml_file = labeling_config_file(ctx.spec, ctx.loaded.path)
    try:
        ctx.config = labelconfig.parse_label_config(xml)
    except labelconfig.LabelConfigError as exc:
        ctx.report_xml(exc.line, exc.column, "label-config-invalid", str(exc))


@check(needs=("target",))
def target(ctx: Context) -> None:
    if ctx.config is None:
        return
    labelconfig = runtime_module("labelconfig")
    name = ctx.spec.get("target")
    try:
        control = labelconfig.find_target(ctx.config, name)
    except LookupError as exc:
        close = difflib.get_close_matches(name or "", list(ctx.config.controls), n=1)
        choices = [c.name for c in ctx.config.controls.values() if c.tag == "Choices"]
        hint = (f"did you mean '{close[0]}'?" if close else
                f"add target: {choices[0]}" if name is None and choices else None)
        ctx.report(("target",) if name else (), "unknown-target", str(exc), hint, at_key=name is None)
        return

    def report(code: str, message: str, hint: str | None = None) -> None:
        ctx.report_xml(control.line, control.column, code, message, hint)

    targets = runtime_module("targets")
    kind = targets.kind_of(control)
    if kind is None:
        report("unsupported-target", unsupported_target(control, targets.KINDS),
               "name a control tag that mlgen predicts in 'target'")
        return
    ctx.estimator_type = kind.estimator_type
    problems = kind.problems(control, ctx.config)
    for problem in problems:
        report(problem.code, problem.message, problem.hint)
    if not problems:
        ctx.target = kind(control)


def unsupported_target(control: Any, kinds: tuple[type, ...]) -> str:
    """Why no target kind predicts a control tag, naming what mlgen does predict."""
    same_tag = [kind for kind in kinds if control.tag in kind.tags]
    if control.tag == "Choices" and same_tag:
        supported = " or ".join(f'choice="{kind.choice}"' for kind in same_tag if hasattr(kind, "choice"))
        return f"'{control.name}' has choice=\"{control.choice}\"; mlgen predicts <Choices> with {supported}"
    tags = sorted({tag for kind in kinds for tag in kind.tags})
    return f"'{control.name}' is a <{control.tag}>; mlgen predicts {', '.join(f'<{t}>' for t in tags)}"


@check
def feature_fields(ctx: Context) -> None:
    """Each feature reads a data field the labeling config shows, and no field twice."""
    seen: dict[str, int] = {}
    known = sorted(ctx.config.data_refs) if ctx.config is not None else None
    for i, feature in ctx.features("field"):
        name = feature["field"]
        if name in seen:
            ctx.report(("features", i, "field"), "duplicate-feature", f"field '{name}' is already feature {seen[name]}")
        seen[name] = i
        top = name.split(".")[0]
        if known is not None and top not in known:
            close = difflib.get_close_matches(top, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"the config shows: {', '.join('$' + k for k in known) or 'no fields'}"
            ctx.report(("features", i, "field"), "unknown-field", f"the labeling config shows no data field '{top}'", hint)


# Which object tags each feature type can read: an <Image>'s field holds a URL, not text to
# vectorize; a tokens feature needs the text a span's offsets point into.
MEDIA_OBJECTS = frozenset({"Image", "Audio", "AudioPlus", "Video"})
FEATURE_OBJECTS: dict[str, Callable[[str], bool]] = {
    "image": lambda tag: tag == "Image",
    "tokens": lambda tag: tag == "Text",
    "text": lambda tag: tag not in MEDIA_OBJECTS,
    "number": lambda tag: tag not in MEDIA_OBJECTS,
    "category": lambda tag: tag not in MEDIA_OBJECTS,
}
PROPOSED = {"Image": "image", "Text": "text"}


@check
def feature_objects(ctx: Context) -> None:
    """A feature's type must fit the object tag that shows its field."""
    if ctx.config is None:
        return
    shown: dict[str, list[str]] = {}
    for obj in ctx.config.objects.values():
        if obj.field is not None:
            shown.setdefault(obj.field, []).append(obj.tag)
    for i, feature in ctx.features("field", "type"):
        tags = shown.get(feature["field"].split(".")[0], [])
        fits = FEATURE_OBJECTS.get(feature["type"])
        if fits is None or not tags or any(fits(tag) for tag in tags):
            continue
        proposal = next((PROPOSED[t] for t in tags if t in PROPOSED), None)
        ctx.report(("features", i, "type"), "feature-not-for-object",
                   f"'{feature['field']}' is what <{tags[0]}> shows, which a {feature['type']} feature cannot read",
                   f"use type: {proposal}" if proposal else None)


@check
def span_features(ctx: Context) -> None:
    """A span target reads exactly one tokens feature, of the text it labels; no other target
    reads tokens (they are a tagger's input, not a vector)."""
    if ctx.target is None:
        return
    spans = ctx.target.kind == "spans"
    entries = list(ctx.features("field", "type"))
    tokens = [(i, f) for i, f in entries if f["type"] == "tokens"]
    if not spans:
        for i, _ in tokens:
            ctx.report(("features", i, "type"), "feature-not-for-target",
                       f"a tokens feature is for <Labels> span targets; '{ctx.target.name}' is a "
                       f"{ctx.target.kind.replace('_', ' ')} target", "use type: text")
        return
    shown = ctx.config.objects[ctx.target.to_name].field
    wanted = f"features: [{{field: {shown}, type: tokens}}]"
    if not tokens:
        if entries:
            ctx.report(("features", entries[0][0], "type"), "feature-not-for-target",
                       "a span target reads the text it labels as tokens", wanted)
        return
    first, feature = tokens[0]
    if shown is not None and feature["field"] != shown:
        ctx.report(("features", first, "field"), "feature-not-for-target",
                   f"the spans label '{shown}', so their offsets point into it, not into '{feature['field']}'",
                   wanted)
    for i, other in entries:
        if i != first:
            ctx.report(("features", i), "feature-not-for-target",
                       f"a span target reads one feature, the tokens of the text it labels; "
                       f"'{other['field']}' ({other['type']}) cannot be used beside it", wanted)
    if ctx.valid("training", "incremental") and ctx.spec.get("training", {}).get("incremental"):
        ctx.report(("training", "incremental"), "option-not-for-target",
                   "span targets are always refitted in full", "remove training.incremental")


@check
def gazetteer_files(ctx: Context) -> None:
    """A gazetteer given as a file must be readable, relative to the spec."""
    for i, feature in ctx.features("gazetteers"):
        for name, value in (feature.get("gazetteers") or {}).items():
            if not isinstance(value, str):
                continue
            path = ctx.loaded.path.parent / value
            try:
                path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                ctx.report(("features", i, "gazetteers", name), "gazetteer-missing",
                           f"cannot read the gazetteer file {value}: {getattr(exc, 'strerror', None) or exc}",
                           "one phrase a line, in UTF-8, relative to this spec")


@check
def ngram_order(ctx: Context) -> None:
    for i, feature in ctx.features("type", "ngram_range"):
        if feature["type"] == "text":
            low, high = feature.get("ngram_range", [1, 1])
            if low > high:
                ctx.report(("features", i, "ngram_range"), "invalid-value",
                           f"ngram_range must go from small to large; got [{low}, {high}]")


@check(needs=("model.class",))
def estimator(ctx: Context) -> None:
    model = ctx.spec["model"]
    estimator_type = ctx.estimator_type or type_of(model["class"])
    if custom.is_custom(model["class"]):
        custom_estimator(ctx, model)
        return
    cls, hint = find_estimator(model["class"], estimator_type)
    if cls is None:
        ctx.report(("model", "class"), "unknown-estimator",
                   f"'{model['class']}' is not a scikit-learn {estimator_type}", hint)
        return
    needs = required_params(cls)
    if needs:
        ctx.report(("model", "class"), "unsupported-estimator",
                   f"{cls.__name__} needs another estimator ({', '.join(needs)}), which a spec cannot give")
        return
    params, complete = valid_params(ctx, cls)
    for name, code, message, param_hint in param_problems(cls, params):
        path: JsonPath = ("model", "params", name) if name else ("model", "params")
        ctx.report(path, code, message, param_hint, at_key=code == "unknown-param")
    if not complete or any(p.code in ("invalid-param", "unknown-param") for p in ctx.problems):
        return  # predict_proba depends on the params, which are not all known to be right
    if ctx.estimator_type == "classifier" and not has_predict_proba(cls, params):
        hint = PROBA_HINTS.get(cls.__name__, "use LogisticRegression, a naive Bayes model, "
                                             "SGDClassifier with loss: log_loss, or a tree ensemble")
        ctx.report(("model", "class"), "no-predict-proba",
                   f"{cls.__name__} with these params has no predict_proba, which the active-learning "
                   "score needs", hint)
        return
    ctx.estimator = cls


def type_of(class_path: str) -> str:
    """What a class is, when the target's kind is unknown (its config or name is wrong): a
    classifier or a regressor, so that only a class that is neither is reported (as no classifier)."""
    if custom.is_custom(class_path) or find_estimator(class_path, "classifier")[0] is not None:
        return "classifier"
    return "regressor" if find_estimator(class_path, "regressor")[0] is not None else "classifier"


def valid_params(ctx: Context, cls: type) -> tuple[dict[str, Any], bool]:
    """The model.params to check against the estimator, and whether they are all the spec gives.
    Those the schema accepts are checked whole; one whose value the schema rejects (and reports)
    by its name only: when the estimator has no such parameter, it is given as None, which
    param_problems never tries, since an unknown name is all it then reports. A name that is no
    string (YAML reads `1:` as a number) is kept as text: no parameter has it."""
    given = ctx.spec["model"].get("params", {})
    if not isinstance(given, dict):  # the schema says it must be a mapping
        return {}, False
    known = inspect.signature(cls).parameters
    accepted = {str(name): value for name, value in given.items() if ctx.valid("model", "params", name)}
    unknown = {str(name): None for name in given if str(name) not in accepted and str(name) not in known}
    return {**accepted, **unknown}, len(accepted) == len(given)


def custom_estimator(ctx: Context, model: dict[str, Any]) -> None:
    if not ctx.valid("model", "file"):
        return  # the module to import is not known
    cls, problem, where = custom.load_class(model, ctx.loaded.path)
    if cls is None:
        path: JsonPath = ("model", "file") if where == "file" and "file" in model else ("model", "class")
        ctx.report(path, "custom-estimator", problem,
                   "model.class is 'module:Class', a class in module.py beside the spec (or in model.file)")
        return
    if not ctx.valid("model", "params"):
        return  # the class cannot be tried without its params
    needed_by = ctx.estimator_type or "regressor"  # the kind unknown: what every estimator has
    missing, failed = custom.missing_methods(cls, model.get("params") or {}, needed_by)
    if failed:
        ctx.report(("model", "params") if model.get("params") else ("model", "class"), "invalid-param", failed)
        return
    if missing:
        ctx.report(("model", "class"), "custom-estimator",
                   f"{cls.__name__} lacks {', '.join(missing)}, which a {needed_by} for this target needs",
                   "subclass sklearn.base.BaseEstimator and ClassifierMixin (or RegressorMixin)")
        return
    ctx.estimator = cls


@check
def target_options(ctx: Context) -> None:
    """The evaluation metric and the prediction options must fit the target's kind."""
    if ctx.target is None:
        return
    metric = ctx.spec.get("evaluation", {}).get("metric") if ctx.valid("evaluation", "metric") else None
    if metric is not None and metric not in ctx.target.metrics:
        ctx.report(("evaluation", "metric"), "metric-not-for-target",
                   f"'{metric}' does not measure a {ctx.target.kind.replace('_', ' ')} target",
                   f"use one of: {', '.join(ctx.target.metrics)}")
    strategy = ctx.spec.get("active_learning", {}).get("strategy") if ctx.valid("active_learning", "strategy") else None
    if strategy is not None and strategy not in ctx.target.strategies:
        ctx.report(("active_learning", "strategy"), "option-not-for-target",
                   f"'{strategy}' does not score a {ctx.target.kind.replace('_', ' ')} target",
                   f"use one of: {', '.join(ctx.target.strategies)}")
    threshold = ctx.valid("prediction", "threshold") and "threshold" in ctx.spec.get("prediction", {})
    if threshold and ctx.target.kind != "multiple_choice":
        ctx.report(("prediction", "threshold"), "option-not-for-target",
                   "prediction.threshold applies to multiple-choice targets only",
                   f"remove it: a {ctx.target.kind.replace('_', ' ')} target ignores it", severity="warning")


@check
def naive_bayes_input(ctx: Context) -> None:
    if ctx.estimator is None or not ctx.estimator.__module__.startswith("sklearn.naive_bayes"):
        return
    name = ctx.estimator.__name__
    for i, feature in ctx.features("vectorizer", "alternate_sign"):
        if feature.get("vectorizer") == "hashing" and feature.get("alternate_sign"):
            ctx.report(("features", i, "alternate_sign"), "negative-features",
                       f"{name} needs non-negative input; alternate_sign gives negative values",
                       "set alternate_sign: false")
    if name not in ("MultinomialNB", "ComplementNB", "CategoricalNB"):
        return
    for i, feature in ctx.features("type", "scale"):
        if feature["type"] == "number" and feature.get("scale", "standard") == "standard":
            ctx.report(("features", i, "scale"), "negative-features",
                       f"{name} needs non-negative input; standard scaling gives negative values",
                       "use scale: minmax")


@check(needs=("training.schedule",))
def schedule(ctx: Context) -> None:
    text = ctx.spec.get("training", {}).get("schedule")
    if text is None:
        return
    try:
        runtime_module("schedule").parse_schedule(text)
    except ValueError as exc:
        ctx.report(("training", "schedule"), "invalid-schedule", str(exc),
                   "five fields: minute hour day month weekday, e.g. '0 3 * * *' for 03:00 UTC daily")


@check(needs=("training.incremental",))
def incremental(ctx: Context) -> None:
    if not ctx.spec.get("training", {}).get("incremental"):
        return
    if ctx.estimator is not None and not hasattr(ctx.estimator, "partial_fit"):
        ctx.report(("training", "incremental"), "incremental-needs-partial-fit",
                   f"{ctx.estimator.__name__} cannot learn incrementally: it has no partial_fit",
                   "use SGDClassifier (loss: log_loss), MultinomialNB, ComplementNB or BernoulliNB")
    for i, feature in ctx.features("type", "vectorizer"):
        if feature["type"] != "text" or feature.get("vectorizer", "tfidf") != "hashing":
            name = f"'{feature['field']}'" if ctx.valid("features", i, "field") else f"features[{i}]"
            ctx.report(("features", i), "incremental-needs-stateless-features",
                       f"feature {name} learns a vocabulary or statistics when fitted, which an "
                       "incremental update cannot extend",
                       "incremental training takes text features with vectorizer: hashing")


@check(needs=("training.min_annotations",))
def training_policy(ctx: Context) -> None:
    if ctx.spec.get("training", {}).get("min_annotations", 10) < 2:
        ctx.report(("training", "min_annotations"), "training-policy",
                   "a classifier needs annotations of 2 classes; trainings before that are skipped",
                   "set min_annotations to 2 or more", severity="warning")
