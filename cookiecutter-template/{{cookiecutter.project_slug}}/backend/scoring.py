"""Active-learning scores from class probabilities.

Label Studio reads a prediction's `score` as confidence and sorts by it, so every strategy maps
to [0, 1] with low meaning uncertain: sorting by score ascending in the Data Manager shows the
tasks the model would learn most from first.
"""

from __future__ import annotations

import numpy as np


def confidence_scores(proba: np.ndarray, strategy: str) -> np.ndarray:
    """One score in [0, 1] per row of an (n_tasks, n_classes) probability matrix."""
    proba = np.clip(np.asarray(proba, dtype=float), 0.0, 1.0)
    n_classes = proba.shape[1]
    if strategy == "least_confidence":
        scores = proba.max(axis=1)
    elif strategy == "margin":
        if n_classes < 2:
            scores = np.ones(len(proba))
        else:
            top_two = np.sort(proba, axis=1)[:, -2:]
            scores = top_two[:, 1] - top_two[:, 0]
    elif strategy == "entropy":
        if n_classes < 2:
            scores = np.ones(len(proba))
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                plogp = np.where(proba > 0, proba * np.log(proba), 0.0)
            scores = 1.0 + plogp.sum(axis=1) / np.log(n_classes)
    else:
        raise ValueError(f"unknown active-learning strategy '{strategy}'")
    return np.clip(scores, 0.0, 1.0)
