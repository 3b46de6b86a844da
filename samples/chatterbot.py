"""The English questions of chatterbot-corpus, by category: what the text samples' make_tasks.py
scripts read (samples/topics, samples/multitopic)."""

from __future__ import annotations

import importlib.resources
import re
from collections import defaultdict

import yaml


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def dedupe_key(text: str) -> str:
    return clean(text).casefold().rstrip(".?!; ")


def load_questions(classes: dict[str, str]) -> dict[str, list[str]]:
    """Every kept class's distinct questions, in corpus order. `classes` maps a corpus category
    (the first entry of a file's `categories`) to its label; the first utterance of each
    conversation is the question, whitespace normalised, duplicates dropped (case, whitespace and
    trailing punctuation ignored), and so is every question the corpus files under more than one
    category."""
    english = importlib.resources.files("chatterbot_corpus") / "data" / "english"
    categories_of: dict[str, set[str]] = defaultdict(set)
    questions: dict[str, dict[str, str]] = defaultdict(dict)  # label -> key -> first spelling
    for resource in sorted(english.iterdir(), key=lambda r: r.name):
        if not resource.name.endswith(".yml"):
            continue
        doc = yaml.safe_load(resource.read_text(encoding="utf-8"))
        category = doc["categories"][0]
        for conversation in doc.get("conversations") or []:
            question = conversation[0] if conversation else None
            if not isinstance(question, str) or not clean(question):
                continue
            key = dedupe_key(question)
            categories_of[key].add(category)
            if category in classes:
                questions[classes[category]].setdefault(key, clean(question))
    return {
        label: [text for key, text in by_key.items() if len(categories_of[key]) == 1]
        for label, by_key in sorted(questions.items())
    }
