"""The generator's semantic checks (generator/mlgen/checks.py), through validate_spec: what each
check reports (code, message, hint, severity) and where (the line and column of the YAML, or of
the labeling config, inline or in its own file), and what it leaves alone."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mlgen import validate_spec
from mlgen.runtime import runtime_module

CONFIG = """\
  <View>
    <Text name="text" value="$text"/>
    <Choices name="sentiment" toName="text">
      <Choice value="Positive"/>
      <Choice value="Negative"/>
    </Choices>
  </View>
"""


def spec(body: str = "", config: str = CONFIG, features: str = "  - field: text\n    type: text\n",
         model: str = "  class: LogisticRegression\n") -> str:
    """A spec's YAML: the minimal valid one, with `body` (top-level YAML) added at the end."""
    return (f"version: 1\nname: probe\nlabeling_config: |\n{config}features:\n{features}model:\n{model}"
            + textwrap.dedent(body))


def check(tmp_path: Path, text: str, **files: str) -> list[tuple]:
    """(line, column, severity, code, message, hint) of each problem of the spec `text`, with
    `files` written beside it."""
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    path = tmp_path / "backend.yaml"
    path.write_text(text)
    return [(p.line, p.column, p.severity, p.code, p.message, p.hint) for p in validate_spec(path)]


def codes(problems: list[tuple]) -> list[str]:
    return [p[3] for p in problems]


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_the_minimal_spec_has_no_problem(tmp_path):
    """The base every test here changes is valid."""
    assert check(tmp_path, spec()) == []


# the labeling config ---------------------------------------------------------------------


def test_a_labeling_config_in_its_own_file_is_read_beside_the_spec(tmp_path):
    """labeling_config may name a file, relative to the spec; its problems point into it."""
    text = spec().replace("labeling_config: |\n" + CONFIG, "labeling_config: config.xml\n")
    assert check(tmp_path, text, **{"config.xml": textwrap.dedent(CONFIG)}) == []
    broken = "<View>\n  <Text name='text' value='$text'/>\n  <Choices name='x'>\n</View>\n"
    [problem] = validate_spec(_write(tmp_path, text, broken))
    assert (Path(problem.file).name, problem.line, problem.code) == ("config.xml", 4, "label-config-invalid")
    assert problem.message.startswith("labeling config is not valid XML: mismatched tag")


def _write(tmp_path: Path, text: str, config: str) -> Path:
    (tmp_path / "config.xml").write_text(config)
    (tmp_path / "backend.yaml").write_text(text)
    return tmp_path / "backend.yaml"


@pytest.mark.parametrize("name", ["missing.xml", "folder"])
def test_a_labeling_config_that_cannot_be_read_says_so(tmp_path, name):
    """A path that is no readable file is reported at labeling_config, with what to give."""
    (tmp_path / "folder").mkdir()
    text = spec().replace("labeling_config: |\n" + CONFIG, f"labeling_config: {name}\n")
    [problem] = check(tmp_path, text)
    assert problem[:4] == (3, 18, "error", "label-config-missing")
    assert problem[4].startswith("cannot read the labeling config: ")
    assert problem[5] == "give inline XML starting with '<', or a path relative to this spec"


def xml_error_at(xml: str) -> tuple[int, int]:
    """Where the runtime's parser puts the error of a broken labeling config (line, column)."""
    labelconfig = runtime_module("labelconfig")
    with pytest.raises(labelconfig.LabelConfigError) as caught:
        labelconfig.parse_label_config(xml)
    return caught.value.line, caught.value.column


def test_an_inline_config_error_points_into_the_yaml_block(tmp_path):
    """In a block scalar, an XML error's line and column are moved to where that XML text is in
    the spec: the block's first line, plus its indentation."""
    config = "  <View>\n    <Text name=\"text\" value=\"$text\"/>\n    <Choices name=\"x\" toName=\"text\">\n  </View>\n"
    text = spec(config=config)
    [problem] = check(tmp_path, text)
    assert problem[3] == "label-config-invalid" and "mismatched tag" in problem[4]
    line, column = xml_error_at(textwrap.dedent(config))
    assert line == 4 and problem[:2] == (line_of(text, "<View>") + line - 1, 2 + column)


def test_an_inline_config_error_on_one_quoted_line_points_at_its_column(tmp_path):
    """A one-line quoted config: the column counts from the character after the opening quote."""
    xml = '<View><Text name="text" value="$text"/><Bad></View>'
    text = spec().replace("labeling_config: |\n" + CONFIG, f"labeling_config: '{xml}'\n")
    [problem] = check(tmp_path, text)
    assert problem[3] == "label-config-invalid"
    line, column = xml_error_at(xml)
    assert line == 1 and problem[:2] == (3, len("labeling_config: '") + column)
    plain = spec().replace("labeling_config: |\n" + CONFIG, f"labeling_config: {xml}\n")
    assert check(tmp_path, plain)[0][:2] == (3, len("labeling_config: ") + column)
    # "\n" escapes in a quoted scalar: the XML's later lines have no place of their own in the YAML
    escaped = spec().replace("labeling_config: |\n" + CONFIG,
                             'labeling_config: "<View>\\n<Text name=\'text\' value=\'$text\'/>\\n<Bad></View>"\n')
    assert check(tmp_path, escaped)[0][:4] == (3, 18, "error", "label-config-invalid")


def test_a_control_tags_problems_point_at_the_tag(tmp_path):
    """What keeps a control tag from being a target is reported at that tag in the spec."""
    config = CONFIG.replace('      <Choice value="Negative"/>\n', "")
    text = spec(config=config)
    [problem] = check(tmp_path, text)
    assert problem == (line_of(text, "<Choices"), 5, "error", "too-few-labels",
                       "'sentiment' has 1 choice(s); a single-choice model needs 2 or more", None)


# the target ------------------------------------------------------------------------------


def test_an_unknown_target_suggests_the_closest_name(tmp_path):
    """A target that names no control tag: a close name is suggested, at the target key."""
    text = spec("target: sentimnet\n")
    [problem] = check(tmp_path, text)
    assert problem[:4] == (line_of(text, "target:"), 9, "error", "unknown-target")
    assert problem[5] == "did you mean 'sentiment'?"
    [problem] = check(tmp_path, spec("target: zzz\n"))
    assert problem[3] == "unknown-target" and problem[5] is None


def test_several_control_tags_need_a_target(tmp_path):
    """With several control tags and no target, the first <Choices> is suggested; the problem is
    the spec's, at its top."""
    config = CONFIG.replace("  </View>", '    <Number name="price" toName="text"/>\n  </View>')
    text = spec(config=config.replace("<Choices", "<Choices").replace("  <View>\n", "  <View>\n"))
    text = text.replace('    <Text name="text" value="$text"/>\n',
                        '    <Text name="text" value="$text"/>\n    <Rating name="stars" toName="text"/>\n')
    [problem] = check(tmp_path, text)
    assert problem[:4] == (1, 1, "error", "unknown-target") and problem[5] == "add target: sentiment"
    no_choices = text.replace("<Choices", "<Rating").replace("</Choices>", "</Rating>")
    no_choices = no_choices.replace('<Rating name="sentiment" toName="text">', '<Rating name="mood" toName="text"/>')
    no_choices = no_choices.replace('      <Choice value="Positive"/>\n      <Choice value="Negative"/>\n    </Rating>\n', "")
    [problem] = check(tmp_path, no_choices)
    assert problem[3] == "unknown-target" and problem[5] is None


def test_a_tag_no_kind_predicts_says_which_ones_mlgen_does(tmp_path):
    """An unsupported control tag is named with every tag mlgen predicts, sorted; a <Choices>
    with another choice attribute is told which choices are supported."""
    config = CONFIG.replace("<Choices", '<Taxonomy').replace("</Choices>", "</Taxonomy>")
    [problem] = check(tmp_path, spec("target: sentiment\n", config=config))
    assert problem[3] == "unsupported-target" and problem[5] == "name a control tag that mlgen predicts in 'target'"
    tags = sorted({tag for kind in runtime_module("targets").KINDS for tag in kind.tags})
    assert problem[4] == f"'sentiment' is a <Taxonomy>; mlgen predicts {', '.join(f'<{t}>' for t in tags)}"
    radio = CONFIG.replace('<Choices name="sentiment" toName="text">',
                           '<Choices name="sentiment" toName="text" choice="single-radio">')
    [problem] = check(tmp_path, spec(config=radio))
    assert problem[3] == "unsupported-target"
    assert problem[4] == ("'sentiment' has choice=\"single-radio\"; mlgen predicts <Choices> with "
                          "choice=\"single\" or choice=\"multiple\"")


# features --------------------------------------------------------------------------------


def test_a_field_twice_and_a_field_the_config_does_not_show(tmp_path):
    """A feature reading a field another feature reads, or one the config never shows: the
    closest field is suggested, else every field the config shows."""
    text = spec(features="  - field: text\n    type: text\n  - field: text\n    type: text\n"
                         "  - field: txt\n    type: text\n  - field: meta.size\n    type: number\n")
    assert check(tmp_path, text) == [
        (line_of(text, "- field: text") + 2, 12, "error", "duplicate-feature", "field 'text' is already feature 0", None),
        (line_of(text, "field: txt"), 12, "error", "unknown-field", "the labeling config shows no data field 'txt'",
         "did you mean 'text'?"),
        (line_of(text, "field: meta"), 12, "error", "unknown-field", "the labeling config shows no data field 'meta'",
         "the config shows: $text"),
    ]
    nothing = CONFIG.replace('value="$text"', 'value="static text"')
    [problem] = check(tmp_path, spec(features="  - field: zzzz\n    type: text\n", config=nothing))
    assert problem[3:] == ("unknown-field", "the labeling config shows no data field 'zzzz'",
                           "the config shows: no fields")


def test_a_dotted_field_is_checked_by_its_top_key(tmp_path):
    """`meta.size` reads $meta's size: it is known when the config shows $meta."""
    config = CONFIG.replace('    <Text name="text" value="$text"/>\n',
                            '    <Text name="text" value="$text"/>\n    <Header value="$meta"/>\n')
    assert check(tmp_path, spec(features="  - field: meta.size\n    type: number\n", config=config)) == []


def test_ngram_ranges_go_from_small_to_large(tmp_path):
    """[2, 1] is refused at ngram_range; [1, 2] and [2, 2] are fine."""
    text = spec(features="  - field: text\n    type: text\n    ngram_range: [2, 1]\n")
    assert check(tmp_path, text) == [(line_of(text, "ngram_range"), 18, "error", "invalid-value",
                                      "ngram_range must go from small to large; got [2, 1]", None)]
    for good in ("[1, 2]", "[2, 2]"):
        assert check(tmp_path, spec(features=f"  - field: text\n    type: text\n    ngram_range: {good}\n")) == []


def test_one_bad_feature_hides_no_other_features_problems(tmp_path):
    """A feature the schema rejects is skipped, and the next one is still checked."""
    text = spec(features="  - field: text\n    type: picture\n  - field: txt\n    type: text\n")
    problems = check(tmp_path, text)
    assert "unknown-field" in codes(problems) and len(problems) >= 2
    assert next(p for p in problems if p[3] == "unknown-field")[0] == line_of(text, "field: txt")


# the estimator ---------------------------------------------------------------------------


def test_an_unknown_estimator_is_named_with_what_it_must_be(tmp_path):
    """A class that is no scikit-learn estimator of the target's type is refused at model.class."""
    text = spec(model="  class: LogisticRegresion\n")
    [problem] = check(tmp_path, text)
    assert problem[:5] == (line_of(text, "class:"), 10, "error", "unknown-estimator",
                           "'LogisticRegresion' is not a scikit-learn classifier")
    number = CONFIG.replace('<Choices name="sentiment" toName="text">', '<Number name="sentiment" toName="text"/>')
    number = number.replace('      <Choice value="Positive"/>\n      <Choice value="Negative"/>\n    </Choices>\n', "")
    [problem] = check(tmp_path, spec(config=number))
    assert problem[3:5] == ("unknown-estimator", "'LogisticRegression' is not a scikit-learn regressor")


def test_an_estimator_that_needs_another_one_is_refused(tmp_path):
    """A meta-estimator needs estimators that a spec cannot give."""
    [problem] = check(tmp_path, spec(model="  class: StackingClassifier\n"))
    assert problem[3:] == ("unsupported-estimator",
                           "StackingClassifier needs another estimator (estimators), which a spec cannot give", None)


def test_a_classifier_without_probabilities_gets_a_hint_of_its_own(tmp_path):
    """The active-learning score needs predict_proba: a classifier without it is refused, with
    a hint for that class (or a general one)."""
    [problem] = check(tmp_path, spec(model="  class: SGDClassifier\n"))
    assert problem[3:] == ("no-predict-proba", "SGDClassifier with these params has no predict_proba, which the "
                           "active-learning score needs",
                           "set params.loss to log_loss (logistic regression) or modified_huber")
    assert check(tmp_path, spec(model="  class: SGDClassifier\n  params: {loss: log_loss}\n")) == []
    [problem] = check(tmp_path, spec(model="  class: RidgeClassifier\n"))
    assert problem[3] == "no-predict-proba"
    assert problem[5] == ("use LogisticRegression, a naive Bayes model, SGDClassifier with loss: log_loss, or a "
                          "tree ensemble")


def test_bad_params_are_reported_and_nothing_more_is_guessed(tmp_path):
    """An unknown parameter is reported at its key, a bad value at the value; then the
    predict_proba check does not run on params known to be wrong."""
    text = spec(model="  class: SGDClassifier\n  params:\n    lose: log_loss\n")
    [problem] = check(tmp_path, text)
    assert problem[:4] == (line_of(text, "lose:"), 5, "error", "unknown-param")
    text = spec(model="  class: SGDClassifier\n  params:\n    alpha: -1\n")
    [problem] = check(tmp_path, text)
    assert problem[:4] == (line_of(text, "alpha:"), 12, "error", "invalid-param")


def test_a_custom_estimator_that_cannot_be_loaded_says_where_it_must_be(tmp_path):
    """model.class 'module:Class' names a class in module.py beside the spec."""
    text = spec(model="  class: mine:Model\n")
    [problem] = check(tmp_path, text)
    assert problem[:4] == (line_of(text, "class:"), 10, "error", "custom-estimator")
    assert problem[5] == "model.class is 'module:Class', a class in module.py beside the spec (or in model.file)"


def test_a_custom_estimator_without_what_the_target_needs(tmp_path):
    """A custom class lacking predict_proba (for a classifier) is named with what it lacks."""
    module = "from sklearn.base import BaseEstimator\n\nclass Model(BaseEstimator):\n    def fit(self, X, y):\n" \
             "        return self\n\n    def predict(self, X):\n        return X\n"
    [problem] = check(tmp_path, spec(model="  class: mine:Model\n"), **{"mine.py": module})
    assert problem[3] == "custom-estimator" and problem[4].startswith("Model lacks ")
    assert problem[4].endswith(", which a classifier for this target needs")
    assert problem[5] == "subclass sklearn.base.BaseEstimator and ClassifierMixin (or RegressorMixin)"


# options that must fit the target ----------------------------------------------------------


def test_the_metric_must_measure_the_target(tmp_path):
    """A metric of another kind is refused, naming the target's metrics."""
    text = spec("evaluation:\n  metric: mae\n")
    [problem] = check(tmp_path, text)
    assert problem == (line_of(text, "metric:"), 11, "error", "metric-not-for-target",
                       "'mae' does not measure a single choice target",
                       "use one of: accuracy, f1_macro, f1_weighted, log_loss")
    assert check(tmp_path, spec("evaluation:\n  metric: accuracy\n")) == []


def test_a_threshold_is_only_for_multiple_choice_targets(tmp_path):
    """prediction.threshold on another kind is a warning (ignored), not an error."""
    text = spec("prediction:\n  threshold: 0.3\n")
    [problem] = check(tmp_path, text)
    assert problem == (line_of(text, "threshold:"), 14, "warning", "option-not-for-target",
                       "prediction.threshold applies to multiple-choice targets only",
                       "remove it: a single choice target ignores it")
    multiple = CONFIG.replace('toName="text">', 'toName="text" choice="multiple">')
    assert check(tmp_path, spec("prediction:\n  threshold: 0.3\n", config=multiple)) == []


# naive Bayes, schedule, incremental training, policy ---------------------------------------


def test_naive_bayes_refuses_negative_features(tmp_path):
    """Signed hashing breaks every naive Bayes model; standard-scaled numbers break the
    multinomial, complement and categorical ones, not Bernoulli or Gaussian."""
    hashed = "  - field: text\n    type: text\n    vectorizer: hashing\n    alternate_sign: true\n"
    text = spec(features=hashed, model="  class: BernoulliNB\n")
    assert check(tmp_path, text) == [(line_of(text, "alternate_sign"), 21, "error", "negative-features",
                                      "BernoulliNB needs non-negative input; alternate_sign gives negative values",
                                      "set alternate_sign: false")]
    config = CONFIG.replace('    <Text name="text" value="$text"/>\n',
                            '    <Text name="text" value="$text"/>\n    <Header value="$size"/>\n')
    numbers = "  - field: text\n    type: text\n  - field: size\n    type: number\n"
    text = spec(features=numbers, config=config, model="  class: ComplementNB\n")
    assert check(tmp_path, text) == [(line_of(text, "field: size"), 5, "error", "negative-features",
                                      "ComplementNB needs non-negative input; standard scaling gives negative values",
                                      "use scale: minmax")]
    assert check(tmp_path, spec(features=numbers + "    scale: minmax\n", config=config,
                                model="  class: MultinomialNB\n")) == []
    for fine in ("BernoulliNB", "GaussianNB", "LogisticRegression"):
        assert check(tmp_path, spec(features=numbers, config=config, model=f"  class: {fine}\n")) == [], fine


def test_a_schedule_must_parse(tmp_path):
    """training.schedule is a five-field cron line; a bad one is refused with an example."""
    text = spec("training:\n  schedule: '61 * * * *'\n")
    [problem] = check(tmp_path, text)
    assert problem[:4] == (line_of(text, "schedule:"), 13, "error", "invalid-schedule")
    assert problem[5] == "five fields: minute hour day month weekday, e.g. '0 3 * * *' for 03:00 UTC daily"
    assert check(tmp_path, spec("training:\n  schedule: '0 3 * * *'\n")) == []


def test_incremental_training_needs_partial_fit_and_stateless_features(tmp_path):
    """With training.incremental the estimator must have partial_fit and every feature must be
    hashed text: each one that is not is named."""
    text = spec("training:\n  incremental: true\n")
    problems = check(tmp_path, text)
    assert problems == [
        (line_of(text, "- field: text"), 5, "error", "incremental-needs-stateless-features",
         "feature 'text' learns a vocabulary or statistics when fitted, which an incremental update cannot extend",
         "incremental training takes text features with vectorizer: hashing"),
        (line_of(text, "incremental:"), 16, "error", "incremental-needs-partial-fit",
         "LogisticRegression cannot learn incrementally: it has no partial_fit",
         "use SGDClassifier (loss: log_loss), MultinomialNB, ComplementNB or BernoulliNB"),
    ]
    hashed = "  - field: text\n    type: text\n    vectorizer: hashing\n"
    assert check(tmp_path, spec("training:\n  incremental: true\n", features=hashed,
                                model="  class: SGDClassifier\n  params: {loss: log_loss}\n")) == []
    assert check(tmp_path, spec("training:\n  incremental: false\n")) == []


def test_fewer_than_two_annotations_before_training_is_a_warning(tmp_path):
    """min_annotations below 2 warns (a classifier needs two classes); 2 is fine."""
    text = spec("training:\n  min_annotations: 1\n")
    assert check(tmp_path, text) == [(line_of(text, "min_annotations"), 20, "warning", "training-policy",
                                      "a classifier needs annotations of 2 classes; trainings before that are skipped",
                                      "set min_annotations to 2 or more")]
    assert check(tmp_path, spec("training:\n  min_annotations: 2\n")) == []


# where the labeling config's problems land, in every YAML style ------------------------------


def test_an_error_at_the_end_of_a_block_config_points_past_its_last_line(tmp_path):
    """XML cut short in a block scalar: the error the parser puts after the last XML line lands
    on the YAML line after the block, its column kept within that line."""
    config = '  <View>\n    <Text name="text" value="$text"/>\n'
    text = spec(config=config)
    [problem] = check(tmp_path, text)
    line, column = xml_error_at(textwrap.dedent(config))
    after = text.splitlines()[line_of(text, "<View>") + line - 2]
    assert problem[3] == "label-config-invalid" and problem[4].endswith("no element found")
    assert problem[:2] == (line_of(text, "<View>") + line - 1, min(2 + column, len(after) + 1))


def test_a_folded_block_config_is_placed_like_a_literal_one(tmp_path):
    """`labeling_config: >` is a block scalar too: its first XML line is the line after the key."""
    text = spec().replace("labeling_config: |\n" + CONFIG,
                          'labeling_config: >\n  <View><Text name="text" value="$text"/><Bad></View>\n')
    [problem] = check(tmp_path, text)
    line, column = xml_error_at('<View><Text name="text" value="$text"/><Bad></View>\n')
    assert problem[3] == "label-config-invalid" and problem[:2] == (4, 2 + column)


def test_a_double_quoted_config_and_an_error_on_its_second_line(tmp_path):
    """A double-quoted config counts its columns after the quote too; an error on its second
    line (an escaped line break) is put at the value."""
    xml = '<View><Text name="text" value="$text"/><Bad></View>'
    text = spec().replace("labeling_config: |\n" + CONFIG, "labeling_config: " + json_string(xml) + "\n")
    line, column = xml_error_at(xml)
    assert check(tmp_path, text)[0][:2] == (3, len('labeling_config: "') + column)
    two_lines = spec().replace("labeling_config: |\n" + CONFIG, 'labeling_config: "<View>\\n<Bad></View>"\n')
    assert check(tmp_path, two_lines)[0][:4] == (3, 18, "error", "label-config-invalid")


def json_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_inline_xml_may_start_with_blank_space(tmp_path):
    """Inline XML is recognised by its first non-blank character, not read as a file name."""
    text = spec().replace("labeling_config: |\n" + CONFIG,
                          "labeling_config: '   <View><Text name=\"text\" value=\"$text\"/><Choices name=\"s\" "
                          "toName=\"text\"><Choice value=\"a\"/><Choice value=\"b\"/></Choices></View>'\n")
    assert check(tmp_path, text) == []


# checks that skip what the schema rejected ---------------------------------------------------


def test_run_checks_finds_the_schema_errors_itself_when_not_given_them(tmp_path):
    """run_checks(loaded) alone skips the checks that would read data the schema rejected, just
    as validate does when it hands them over."""
    from mlgen.checks import run_checks
    from mlgen.validate import invalid_paths, schema_errors, validate_file

    path = tmp_path / "backend.yaml"
    path.write_text(spec(model="  class: 5\n", features="  - field: txt\n    type: text\n"))
    loaded, problems = validate_file(str(path))
    found = run_checks(loaded)
    assert found == run_checks(loaded, invalid_paths(schema_errors(loaded)))
    assert [p.code for p in found] == ["unknown-field"]  # and nothing from the model check


def test_a_feature_with_one_bad_option_is_still_checked_for_its_field(tmp_path):
    """An entry whose other option the schema rejects still has its field checked."""
    text = spec(features="  - field: txt\n    type: text\n    lowercase: 5\n")
    problems = check(tmp_path, text)
    assert ("unknown-field", "the labeling config shows no data field 'txt'") in [p[3:5] for p in problems]


def test_params_the_schema_rejects_are_checked_by_name_only(tmp_path):
    """A parameter whose value the schema rejects is still named when the estimator has no such
    parameter; the parameters the schema accepts are checked whole; and with any of them wrong,
    no predict_proba problem is guessed."""
    text = spec(model="  class: SGDClassifier\n  params:\n    lose: [1]\n")
    [unknown] = [p for p in check(tmp_path, text) if p[3] == "unknown-param"]
    assert unknown[:4] == (line_of(text, "lose:"), 5, "error", "unknown-param")
    assert unknown[4] == "SGDClassifier has no parameter 'lose'"
    text = spec(model="  class: SGDClassifier\n  params:\n    alpha: [2]\n    loss: hinge2\n")
    problems = check(tmp_path, text)
    assert any(p[3] == "invalid-param" and p[0] == line_of(text, "loss:") for p in problems)
    assert "no-predict-proba" not in codes(problems)
    problems = check(tmp_path, spec(model="  class: SGDClassifier\n  params: [1]\n"))
    assert "no-predict-proba" not in codes(problems) and problems


# the estimator when the target's kind is unknown --------------------------------------------


BROKEN_TARGET = "target: nothing\n"


@pytest.mark.parametrize("cls", ["Ridge", "LogisticRegression"])
def test_with_the_target_unknown_any_estimator_is_accepted(tmp_path, cls):
    """When the target cannot be known (its name is wrong), a regressor and a classifier are
    both accepted: only the target is reported."""
    assert codes(check(tmp_path, spec(BROKEN_TARGET, model=f"  class: {cls}\n"))) == ["unknown-target"]


def test_with_the_target_unknown_a_class_that_is_no_estimator_is_no_classifier(tmp_path):
    """A class that is neither a classifier nor a regressor is reported as no classifier."""
    problems = check(tmp_path, spec(BROKEN_TARGET, model="  class: StandardScaler\n"))
    assert ("unknown-estimator", "'StandardScaler' is not a scikit-learn classifier") in [p[3:5] for p in problems]


def test_with_the_target_unknown_a_custom_estimator_needs_what_every_estimator_has(tmp_path):
    """A custom class is then checked for what a regressor needs, which every estimator has."""
    module = "from sklearn.base import BaseEstimator\n\nclass Model(BaseEstimator):\n    pass\n"
    problems = check(tmp_path, spec(BROKEN_TARGET, model="  class: mine:Model\n"), **{"mine.py": module})
    [lacks] = [p for p in problems if p[3] == "custom-estimator"]
    assert lacks[4] == "Model lacks fit, predict, which a regressor for this target needs"
    assert lacks[0] == line_of(spec(BROKEN_TARGET, model="  class: mine:Model\n"), "class:")


def test_a_custom_estimator_whose_params_fail_is_reported_where_they_are(tmp_path):
    """A custom class that cannot be made with the spec's params: reported at params (or at the
    class when there are none); a bad model.file or params in the schema's eyes stop the check."""
    module = ("from sklearn.base import BaseEstimator, ClassifierMixin\n\n"
              "class Model(ClassifierMixin, BaseEstimator):\n    def __init__(self, size=1):\n"
              "        if size < 0:\n            raise ValueError('size must be positive')\n        self.size = size\n"
              "    def fit(self, X, y):\n        return self\n    def predict(self, X):\n        return X\n"
              "    def predict_proba(self, X):\n        return X\n")
    text = spec(model="  class: mine:Model\n  params:\n    size: -1\n")
    [problem] = check(tmp_path, text, **{"mine.py": module})
    assert problem[:4] == (line_of(text, "params:") + 1, 5, "error", "invalid-param") and "size" in problem[4]
    for bad in ("  class: mine:Model\n  file: 5\n", "  class: mine:Model\n  params: [1]\n"):
        problems = check(tmp_path, spec(model=bad), **{"mine.py": module})
        assert problems and "custom-estimator" not in codes(problems) and "invalid-param" not in codes(problems)


def test_a_block_config_at_the_end_of_the_file_is_placed_within_it(tmp_path):
    """A labeling config that ends the spec: an error on its last line lands on that line, and
    one after its last line (the XML cut short) on the line past the file's end, column 1."""
    head = "version: 1\nname: probe\nfeatures:\n  - field: text\n    type: text\nmodel:\n  class: LogisticRegression\n"
    last = '  <View>\n    <Text name="text" value="$text"/>\n    <Choices name="x" toName="text">\n  </View>\n'
    text = head + "labeling_config: |\n" + last
    [problem] = check(tmp_path, text)
    line, column = xml_error_at(textwrap.dedent(last))
    assert problem[:2] == (len(text.splitlines()), 2 + column)
    cut = '  <View>\n    <Text name="text" value="$text"/>\n'
    [problem] = check(tmp_path, head + "labeling_config: |\n" + cut)
    assert problem[3] == "label-config-invalid" and problem[:2] == (len((head + cut).splitlines()) + 2, 1)


MODULE = ("from sklearn.base import BaseEstimator, ClassifierMixin\n\n"
          "class Model(ClassifierMixin, BaseEstimator):\n    def __init__(self, size=1):\n"
          "        if size < 0:\n            raise ValueError('size must be positive')\n        self.size = size\n"
          "    def fit(self, X, y):\n        return self\n    def predict(self, X):\n        return X\n"
          "    def predict_proba(self, X):\n        return X\n\n"
          "class Broken(Model):\n    def __init__(self, size=-1):\n        super().__init__(size)\n\n"
          "class Bare(BaseEstimator):\n    pass\n")


def test_a_custom_estimator_is_tried_despite_other_problems_of_the_model_section(tmp_path):
    """An unknown key beside model.class does not stop the custom class being loaded and tried:
    a missing module, or a class lacking methods, is still reported (with what was wrong)."""
    problems = check(tmp_path, spec(model="  class: gone:Model\n  extra: 1\n"))
    [missing] = [p for p in problems if p[3] == "custom-estimator"]
    assert "gone.py" in missing[4]
    problems = check(tmp_path, spec(model="  class: mine:Bare\n  extra: 1\n"), **{"mine.py": MODULE})
    assert [p[4] for p in problems if p[3] == "custom-estimator"] == [
        "Bare lacks fit, predict, predict_proba, which a classifier for this target needs"]


def test_a_custom_estimator_that_cannot_be_made_without_params_is_reported_at_its_class(tmp_path):
    """A class whose defaults fail is reported at model.class (there are no params to point at);
    the class lacking methods is reported there too, at the class name."""
    text = spec(model="  class: mine:Broken\n")
    [problem] = check(tmp_path, text, **{"mine.py": MODULE})
    assert problem[:4] == (line_of(text, "class:"), 10, "error", "invalid-param") and "size" in problem[4]
    text = spec(model="  class: mine:Bare\n")
    [problem] = check(tmp_path, text, **{"mine.py": MODULE})
    assert problem[:4] == (line_of(text, "class:"), 10, "error", "custom-estimator")


def test_a_valid_custom_estimator_is_checked_by_the_later_checks(tmp_path):
    """A custom class that passes is the spec's estimator for the checks after: without
    partial_fit it cannot learn incrementally, and is named."""
    hashed = "  - field: text\n    type: text\n    vectorizer: hashing\n"
    problems = check(tmp_path, spec("training:\n  incremental: true\n", features=hashed, model="  class: mine:Model\n"),
                     **{"mine.py": MODULE})
    assert [p[3:5] for p in problems] == [("incremental-needs-partial-fit",
                                           "Model cannot learn incrementally: it has no partial_fit")]
