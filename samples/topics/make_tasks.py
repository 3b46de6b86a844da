"""Generate tasks.json and heldout_labels.json for the `topics` sample.

The texts are the English questions of the chatterbot-corpus package (BSD-3-Clause), read from
the installed package, so no network is needed. Run from anywhere:

    python -m venv /tmp/topics-venv
    /tmp/topics-venv/bin/pip install chatterbot-corpus==1.3.3 PyYAML
    /tmp/topics-venv/bin/python samples/topics/make_tasks.py          # rewrite the files
    /tmp/topics-venv/bin/python samples/topics/make_tasks.py --check  # exit 1 if they are stale

The output is deterministic: same package version, same seed, same files.

What it does:
1. Takes the first utterance (the question) of every conversation in the English corpus, with
   the file's first category as its label.
2. Keeps four well-separated categories (CLASSES), normalises whitespace and drops duplicates
   (case, whitespace and trailing punctuation ignored), and drops every question that the corpus
   files under more than one category.
3. Shuffles each class with SEED and keeps at most CAP questions per class.
4. Annotates N_ANNOTATED tasks, allocated to classes in proportion to their sizes and ordered so
   that every prefix of the annotated tasks is itself roughly stratified (the first 10 already
   cover every class). The annotated tasks are spread over random positions of the task list.
5. Writes tasks.json (Label Studio import format; annotated tasks carry one `choices` result)
   and heldout_labels.json (the true label of every task, in the same order).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chatterbot import load_questions  # noqa: E402  (samples/chatterbot.py)
from layout import layout, main  # noqa: E402  (samples/layout.py, shared by the samples)

# Corpus category (the first entry of a file's `categories`) -> label in the labeling config.
CLASSES = {"AI": "AI", "coding": "Coding", "psychology": "Psychology", "trivia": "Trivia"}
CAP = 120  # at most this many questions per class, to keep the classes balanced-ish
N_ANNOTATED = 100
SEED = 20250601
FROM_NAME, TO_NAME, FIELD = "topic", "text", "text"  # as in labeling_config.xml
HERE = Path(__file__).resolve().parent


def build() -> tuple[list[dict], list[str]]:
    rng = random.Random(SEED)
    questions = load_questions(CLASSES)
    missing = sorted(set(CLASSES.values()) - set(questions))
    if missing:
        raise SystemExit(f"the corpus has no questions for {missing}; is chatterbot-corpus 1.3.3 installed?")
    capped = {}
    for label in sorted(questions):
        texts = questions[label][:]
        rng.shuffle(texts)
        capped[label] = texts[:CAP]
    tasks, labels = [], []
    for text, label, annotated in layout(capped, N_ANNOTATED, rng):
        task: dict = {"data": {FIELD: text}}
        if annotated:
            task["annotations"] = [{"result": [{
                "from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                "value": {"choices": [label]},
            }]}]
        tasks.append(task)
        labels.append(label)
    return tasks, labels


if __name__ == "__main__":
    sys.exit(main(build, HERE))
