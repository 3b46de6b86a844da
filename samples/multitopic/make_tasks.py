"""Generate tasks.json and heldout_labels.json for the `multitopic` sample.

The messages are made of the English questions of the chatterbot-corpus package (BSD-3-Clause),
read from the installed package, so no network is needed. Run from anywhere:

    python -m venv /tmp/multitopic-venv
    /tmp/multitopic-venv/bin/pip install chatterbot-corpus==1.3.3 PyYAML
    /tmp/multitopic-venv/bin/python samples/multitopic/make_tasks.py          # rewrite the files
    /tmp/multitopic-venv/bin/python samples/multitopic/make_tasks.py --check  # exit 1 if they are stale

The output is deterministic: same package version, same seed, same files.

What it does:
1. Takes the first utterance (the question) of every conversation in the English corpus, with
   the file's first category as its topic, for five categories (CLASSES). Whitespace is
   normalised, duplicates are dropped (case, whitespace and trailing punctuation ignored), and so
   is every question that the corpus files under more than one category.
2. Shuffles each topic's questions with SEED and keeps at most CAP of them (Trivia has 261).
3. Builds messages of one, two or three questions from different topics, in the proportions
   SIZES, using every kept question exactly once: a message's topics are the topics of its
   questions, and its text is its questions, in random order, joined by a space. Topics are drawn
   at random in proportion to the questions they have left, so that the messages' mix of topics is
   varied, subject to every remaining question still finding a place (Gale-Ryser condition).
4. Annotates N_ANNOTATED messages, picked one at a time so that every prefix of the annotated
   messages has about the topic counts and the mix of one-, two- and three-topic messages of the
   whole set; from the 10th annotation on, every topic has at least 2 positive and 2 negative
   examples (the backend trains from 10). The annotated tasks are spread over random positions of
   the task list.
5. Writes tasks.json (Label Studio import format; annotated tasks carry one `choices` result
   whose choices are in the order of labeling_config.xml) and heldout_labels.json (the true
   topics of every task, a list of choices, in the order of tasks.json).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chatterbot import load_questions  # noqa: E402  (samples/chatterbot.py)
from layout import main, spread  # noqa: E402  (samples/layout.py, shared by the samples)

# Corpus category (the first entry of a file's `categories`) -> choice, in the config's order.
CLASSES = {"AI": "AI", "coding": "Coding", "emotion": "Emotion", "psychology": "Psychology",
           "trivia": "Trivia"}
ORDER = list(CLASSES.values())  # the <Choice> order in labeling_config.xml
CAP = 120  # at most this many questions per topic, so that Trivia is not in most messages
SIZES = {1: 0.40, 2: 0.45, 3: 0.15}  # share of the messages with 1, 2 and 3 topics
N_ANNOTATED = 100
MIN_EXAMPLES = 2  # positives and negatives of every topic in every prefix of >= FIRST_TRAINING
FIRST_TRAINING = 10  # annotations before the backend's first training (training.min_annotations)
MIN_POSITIVES = 15  # positives of every topic among the annotated messages
SEED = 20250601
FROM_NAME, TO_NAME, FIELD = "topics", "text", "text"  # as in labeling_config.xml
HERE = Path(__file__).resolve().parent


def message_sizes(n_questions: int) -> list[int]:
    """Sizes of the messages, largest first, that use n_questions questions in about SIZES."""
    mean = sum(size * share for size, share in SIZES.items())
    n_messages = round(n_questions / mean)
    counts = {size: round(n_messages * share) for size, share in SIZES.items() if size > 1}
    counts[1] = n_questions - sum(size * n for size, n in counts.items())
    return [size for size in sorted(counts, reverse=True) for _ in range(counts[size])]


def feasible(left: dict[str, int], sizes: list[int]) -> bool:
    """Whether `sizes` messages of distinct topics can use exactly the `left` questions
    (Gale-Ryser: a 0/1 matrix with these row and column sums exists)."""
    columns = sorted(left.values(), reverse=True)
    if sum(columns) != sum(sizes):
        return False
    return all(sum(columns[:k]) <= sum(min(size, k) for size in sizes) for k in range(1, len(columns) + 1))


def draw_topics(left: dict[str, int], size: int, rng: random.Random) -> list[str]:
    """`size` distinct topics, at random in proportion to the questions they have left."""
    pool = {topic: n for topic, n in left.items() if n > 0}
    chosen = []
    for _ in range(size):
        topics = sorted(pool)
        topic = rng.choices(topics, weights=[pool[t] for t in topics])[0]
        chosen.append(topic)
        del pool[topic]
    return chosen


def make_messages(questions: dict[str, list[str]], rng: random.Random) -> list[tuple[str, list[str]]]:
    """(text, topics in ORDER) for messages that use every question exactly once."""
    left = {topic: len(texts) for topic, texts in questions.items()}
    sizes = message_sizes(sum(left.values()))
    if not feasible(left, sizes):
        raise SystemExit(f"cannot make messages of sizes {sizes} from {left}")
    pools = {topic: list(texts) for topic, texts in questions.items()}
    messages = []
    for i, size in enumerate(sizes):
        for _ in range(100):
            topics = draw_topics(left, size, rng)
            after = {t: n - (t in topics) for t, n in left.items()}
            if feasible(after, sizes[i + 1:]):
                break
        else:  # the largest message with the topics that have most left always keeps it feasible
            topics = sorted(left, key=lambda t: (-left[t], t))[:size]
            after = {t: n - (t in topics) for t, n in left.items()}
        left = after
        parts = [pools[topic].pop() for topic in topics]
        rng.shuffle(parts)
        messages.append((" ".join(parts), [t for t in ORDER if t in topics]))
    return messages


def pick_annotated(messages: list[tuple[str, list[str]]], rng: random.Random) -> tuple[list, list]:
    """(annotated, rest): N_ANNOTATED messages, ordered so that every prefix of them has about the
    topic counts and message-size mix of all messages; and the others."""
    n = len(messages)
    share = {t: sum(t in topics for _, topics in messages) / n for t in ORDER}
    size_share = {s: sum(len(topics) == s for _, topics in messages) / n for s in SIZES}
    candidates = list(range(n))
    rng.shuffle(candidates)
    counts = dict.fromkeys(ORDER, 0)
    size_counts = dict.fromkeys(SIZES, 0)
    chosen: list[int] = []

    def error(i: int, step: int) -> float:
        topics = messages[i][1]
        return (sum((counts[t] + (t in topics) - step * share[t]) ** 2 for t in ORDER)
                + sum((size_counts[s] + (len(topics) == s) - step * size_share[s]) ** 2 for s in SIZES))

    for step in range(1, N_ANNOTATED + 1):
        best = min(candidates, key=lambda i: error(i, step))  # ties: the first in shuffled order
        candidates.remove(best)
        chosen.append(best)
        for t in messages[best][1]:
            counts[t] += 1
        size_counts[len(messages[best][1])] += 1
    annotated = [messages[i] for i in chosen]
    check_annotated(annotated)
    taken = set(chosen)
    return annotated, [m for i, m in enumerate(messages) if i not in taken]


def check_annotated(annotated: list[tuple[str, list[str]]]) -> None:
    for k in range(FIRST_TRAINING, len(annotated) + 1):
        for t in ORDER:
            positives = sum(t in topics for _, topics in annotated[:k])
            if min(positives, k - positives) < MIN_EXAMPLES:
                raise SystemExit(f"the first {k} annotations have {positives} of {t}")
    for t in ORDER:
        positives = sum(t in topics for _, topics in annotated)
        if positives < MIN_POSITIVES:
            raise SystemExit(f"the annotations have only {positives} of {t}")


def build() -> tuple[list[dict], list[list[str]]]:
    rng = random.Random(SEED)
    questions = load_questions(CLASSES)
    missing = sorted(set(ORDER) - set(questions))
    if missing:
        raise SystemExit(f"the corpus has no questions for {missing}; is chatterbot-corpus 1.3.3 installed?")
    capped = {}
    for topic in ORDER:
        texts = questions[topic][:]
        rng.shuffle(texts)
        capped[topic] = texts[:CAP]
    annotated, rest = pick_annotated(make_messages(capped, rng), rng)
    tasks, labels = [], []
    for text, topics, is_annotated in spread(annotated, rest, rng):
        task: dict = {"data": {FIELD: text}}
        if is_annotated:
            task["annotations"] = [{"result": [{
                "from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                "value": {"choices": topics},
            }]}]
        tasks.append(task)
        labels.append(topics)
    return tasks, labels


def summary_rows(topics: list[str]) -> list[str]:
    """The summary counts a message under each of its topics and under its number of topics."""
    return [f"{len(topics)} topic{'s' if len(topics) > 1 else ''}", *topics]


if __name__ == "__main__":
    sys.exit(main(build, HERE, group=summary_rows))
