"""A user's own estimator, as a spec's model.class names it: nearest centroid with probabilities."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class SoftCentroid(ClassifierMixin, BaseEstimator):
    """Class centroids of the feature vectors; probabilities fall with the distance to each."""

    def __init__(self, temperature=1.0):
        self.temperature = temperature

    def fit(self, X, y):
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        rows = [X[y == c] for c in self.classes_]
        self.centroids_ = np.vstack([np.asarray(r.mean(axis=0)).ravel() for r in rows])
        return self

    def predict_proba(self, X):
        X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        distances = ((X[:, None, :] - self.centroids_[None, :, :]) ** 2).sum(axis=2)
        logits = -distances / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class NoProba(BaseEstimator):
    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(X.shape[0])
