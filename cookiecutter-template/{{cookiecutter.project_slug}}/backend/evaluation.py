"""Measure a model out of sample, and decide whether a new model may replace the served one.

The promotion gate compares the two models on the same annotations, ones neither has learned:
those written since the served model was trained. The served model predicts them as it is; the
new one is measured on them out of fold (each predicted by a fit that did not see it). Until
enough such annotations exist, there is no evidence against the newer model, and it is served.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import Config
from .features import rows_to_matrix
from .model import fit_model
from .targets import Target

KFOLD_BELOW = 200  # evaluation "auto": k-fold under this many annotations, holdout from it on
MIN_COMPARE = 20  # fresh annotations the gate needs before it may keep a new model out


Measured = tuple[list[int], np.ndarray] | None  # rows measured out of sample, and their outputs


def evaluate(config: Config, target: Target, rows: list[list[Any]],
             answers: list[Any]) -> tuple[dict[str, Any], Any, Measured]:
    """The spec's model measured out of sample on these annotations: its metrics, a function
    giving out-of-sample outputs for chosen rows, and the rows the metrics were measured on
    with their outputs (None when not measured)."""
    evaluation = config.evaluation
    metrics: dict[str, Any] = {"n_train": len(answers), **target.summary(answers)}
    method = evaluation.method
    if method == "auto":
        method = "kfold" if len(answers) < KFOLD_BELOW else "holdout"
    X = rows_to_matrix(rows)
    seed = config.training.random_state or 0

    def fit_on(train: np.ndarray) -> Any:
        return fit_model(config, target, list(X[train]), [answers[i] for i in train], every_class=False)

    def refit_without(indexes: list[int]) -> np.ndarray:
        model = fit_on(np.setdiff1d(np.arange(len(answers)), indexes))
        return target.outputs(model, X[indexes])

    if method == "kfold":
        folds = target.folds(answers, evaluation.folds, seed)
        if isinstance(folds, str):
            return {**metrics, "evaluation": folds}, refit_without, None
        outputs: np.ndarray | None = None
        n_folds = 0
        for train, test in folds:
            fold_outputs = target.outputs(fit_on(train), X[test])
            if outputs is None:
                outputs = np.zeros((len(answers), *fold_outputs.shape[1:]), dtype=fold_outputs.dtype)
            outputs[test] = fold_outputs
            n_folds += 1
        assert outputs is not None
        metrics.update(evaluation=f"{target.fold_name} {n_folds}-fold cross-validation",
                       **target.scores(answers, outputs))
        return metrics, lambda indexes: outputs[indexes], (list(range(len(answers))), outputs)
    n_test = int(round(len(answers) * evaluation.holdout_fraction))
    test = target.holdout(answers, n_test, seed)
    if isinstance(test, str):
        return {**metrics, "evaluation": test}, refit_without, None
    outputs = refit_without(list(test))
    metrics.update(evaluation=f"{target.fold_name} holdout of {n_test}",
                   **target.scores([answers[i] for i in test], outputs))
    return metrics, refit_without, (list(test), outputs)


def compare(target: Target, served: Any, served_until: int, seqs: list[int], rows: list[list[Any]],
            answers: list[Any], out_of_sample: Any) -> dict[str, Any]:
    """Both models' metrics on the annotations written after the served model was trained;
    only their number when there are too few to judge."""
    fresh = [i for i, seq in enumerate(seqs) if seq > served_until]
    if len(fresh) < MIN_COMPARE:
        return {"annotations": len(fresh)}
    truth = [answers[i] for i in fresh]
    served_outputs = target.outputs(served.model, rows_to_matrix([rows[i] for i in fresh]))
    return {
        "annotations": len(fresh),
        "new": target.scores(truth, out_of_sample(fresh)),
        "served": target.scores(truth, served_outputs),
    }


def promotion_decision(config: Config, target: Target, has_served: bool,
                       record: dict[str, Any]) -> tuple[bool, str]:
    """Whether a new model is served, and why."""
    promotion = config.promotion
    metric = config.evaluation.metric
    if not has_served:
        return True, "the project's first model"
    if record["kind"] == "incremental":
        return True, "an incremental update of the served model"
    if promotion.policy == "always":
        return True, "promotion policy: always"
    comparison = record["metrics"].get("comparison", {})
    if "new" not in comparison:
        return True, (f"{comparison.get('annotations', 0)} annotations since the served model, "
                      f"{MIN_COMPARE} needed to compare: no evidence against the newer")
    new, old = comparison["new"][metric], comparison["served"][metric]
    tolerance = promotion.tolerance
    ok = new >= old - tolerance if target.metrics[metric] else new <= old + tolerance
    text = (f"{metric} {new} against {old} for the served model, on the {comparison['annotations']} "
            f"annotations since it was trained (tolerance {tolerance})")
    return ok, text if ok else f"worse: {text}"
