"""Active-learning scores (backend/scoring.py) at their edges: two classes, one class, zero
probabilities, rows that are not quite probabilities, and an unknown strategy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from backend.scoring import confidence_scores

STRATEGIES = ("least_confidence", "margin", "entropy")


def test_two_classes_score_a_coin_flip_lowest_and_a_sure_answer_highest():
    """With two classes, a 50/50 row is the most uncertain there is (0 for margin and entropy)
    and a 100/0 row the surest (1): the binary case is not scored as if it had one class."""
    proba = np.array([[0.5, 0.5], [1.0, 0.0], [0.8, 0.2]])
    assert confidence_scores(proba, "least_confidence") == pytest.approx([0.5, 1.0, 0.8])
    assert confidence_scores(proba, "margin") == pytest.approx([0.0, 1.0, 0.6])
    entropy = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2)) / math.log(2)
    assert confidence_scores(proba, "entropy") == pytest.approx([0.0, 1.0, 1 - entropy])


@pytest.mark.parametrize("strategy", ["margin", "entropy"])
def test_a_single_class_is_always_sure(strategy):
    """A model that knows one class has nothing to be unsure between: every task scores 1,
    one score per task."""
    scores = confidence_scores(np.array([[1.0], [0.3], [0.0]]), strategy)
    assert scores.shape == (3,) and scores.tolist() == [1.0, 1.0, 1.0]


def test_zero_probabilities_count_as_no_uncertainty_and_warn_nothing():
    """0 * log 0 counts as 0 in the entropy (not NaN, not 1), without numpy warnings (which
    would land in the service's log once per prediction)."""
    proba = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = confidence_scores(proba, "entropy")
    expected = [1.0, 1 - math.log(2) / math.log(3),
                1 + (0.25 * math.log(0.25) + 0.75 * math.log(0.75)) / math.log(3)]
    assert scores == pytest.approx(expected)


def test_probabilities_slightly_outside_0_1_score_as_if_clipped():
    """Numeric noise from an estimator (a probability of -1e-3 or 1.2) does not move a score:
    the probabilities are clipped to [0, 1] first."""
    noisy = np.array([[1.2, 0.3, -0.5], [-0.1, 0.6, 0.4], [0.5, 1.5, -0.2]])
    for strategy in STRATEGIES:
        assert confidence_scores(noisy, strategy) == pytest.approx(
            confidence_scores(np.clip(noisy, 0, 1), strategy)), strategy
    assert confidence_scores(noisy, "margin") == pytest.approx([0.7, 0.2, 0.5])
    assert confidence_scores(np.array([[0.6, -0.1]]), "margin") == pytest.approx([0.6])  # not 0.7


def test_scores_stay_in_0_1_for_rows_that_do_not_sum_to_one():
    """A row of small, unnormalized probabilities can make 1 - entropy negative: it is
    clipped to 0 (the most uncertain), never below."""
    proba = np.array([[1 / math.e, 1 / math.e], [0.2, 0.2]])
    for strategy in STRATEGIES:
        scores = confidence_scores(proba, strategy)
        assert ((scores >= 0) & (scores <= 1)).all(), strategy
    assert confidence_scores(proba, "entropy")[0] == 0.0


def test_an_unknown_strategy_is_refused_by_name():
    """A strategy the runtime does not know fails loudly, naming it."""
    with pytest.raises(ValueError, match="unknown active-learning strategy 'random'"):
        confidence_scores(np.array([[0.5, 0.5]]), "random")
