"""What the spec says the service does, typed and built once from spec.json.

spec.json is the normalized spec: mlgen's normaliser filled every default in from the schema,
so nothing here restates a default; a key the schema gives no default is optional (None).
The environment's part (address, state directory, credentials) is in settings.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class TrainingPolicy:
    min_annotations: int
    min_per_class: int
    retrain_every: int
    debounce_seconds: float
    random_state: int | None
    incremental: bool
    full_refit_every: int
    schedule: str | None


@dataclass(frozen=True)
class EvaluationPolicy:
    method: str  # auto, kfold or holdout
    holdout_fraction: float
    folds: int
    metric: str


@dataclass(frozen=True)
class PromotionPolicy:
    policy: str  # if_better or always
    tolerance: float
    keep_versions: int


@dataclass(frozen=True)
class ModelSpec:
    class_path: str  # a full scikit-learn path, or 'module:Class' in the project's custom/
    params: MappingProxyType[str, Any]


@dataclass(frozen=True)
class Config:
    name: str
    labeling_config: str
    target: str  # the name of the control tag predicted
    features: tuple[dict[str, Any], ...]
    model: ModelSpec
    training: TrainingPolicy
    evaluation: EvaluationPolicy
    promotion: PromotionPolicy
    strategy: str  # active_learning.strategy
    prediction: MappingProxyType[str, Any]  # options of the target's kind

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Config:
        """The configuration of a normalized spec (a KeyError names a key mlgen should have filled)."""
        training, evaluation, promotion = spec["training"], spec["evaluation"], spec["promotion"]
        return cls(
            name=spec["name"],
            labeling_config=spec["labeling_config"],
            target=spec["target"],
            features=tuple(spec["features"]),
            model=ModelSpec(spec["model"]["class"], MappingProxyType(dict(spec["model"]["params"]))),
            training=TrainingPolicy(
                min_annotations=training["min_annotations"], min_per_class=training["min_per_class"],
                retrain_every=training["retrain_every"], debounce_seconds=training["debounce_seconds"],
                random_state=training["random_state"], incremental=training["incremental"],
                full_refit_every=training["full_refit_every"], schedule=training.get("schedule"),
            ),
            evaluation=EvaluationPolicy(evaluation["method"], evaluation["holdout_fraction"],
                                        evaluation["folds"], evaluation["metric"]),
            promotion=PromotionPolicy(promotion["policy"], promotion["tolerance"], promotion["keep_versions"]),
            strategy=spec["active_learning"]["strategy"],
            prediction=MappingProxyType(dict(spec["prediction"])),
        )
