"""Scores of the frame classifier and of the trivial baselines it must beat (scikit-learn metrics).

Genres (multi-label): micro and macro F1 at per-genre thresholds chosen on validation films, mean
average precision, per-genre ROC AUC. Budget (five ordered classes): accuracy, balanced accuracy,
macro F1, log loss, mean absolute class error (how many classes off), confusion matrix.

Baselines get the same treatment as the models: all-zero and prevalence (the training films' genre
rates as constant scores, thresholded on validation like a model) for genres; the majority class and
the class prior for budget.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    roc_auc_score,
)

from .labels import BUDGET_CLASSES

THRESHOLD_GRID = np.round(np.arange(0.02, 0.99, 0.02), 2)


def calibrate_thresholds(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per genre, the threshold on the grid that maximizes F1 on these (validation) images.

    Ties go to the highest threshold (fewest positives). A genre absent from the set keeps 0.5.
    """
    thresholds = np.full(y_true.shape[1], 0.5)
    for k in range(y_true.shape[1]):
        if y_true[:, k].sum() == 0:
            continue
        predicted = scores[:, k][:, None] >= THRESHOLD_GRID[None, :]
        positives = y_true[:, k][:, None] > 0
        tp = (predicted & positives).sum(0)
        f1 = 2 * tp / np.maximum(predicted.sum(0) + positives.sum(), 1)
        thresholds[k] = THRESHOLD_GRID[len(f1) - 1 - np.argmax(f1[::-1])]
    return thresholds


def genre_metrics(y_true: np.ndarray, scores: np.ndarray, thresholds: np.ndarray,
                  labels: tuple[str, ...]) -> tuple[dict, list[dict]]:
    """(summary, one row per genre) for (n, k) 0/1 truths and (n, k) probabilities."""
    predicted = (scores >= thresholds[None, :]).astype(int)
    present = [k for k in range(y_true.shape[1]) if 0 < y_true[:, k].sum() < len(y_true)]
    per_genre = []
    for k, label in enumerate(labels):
        row = {"genre": label, "positives": int(y_true[:, k].sum()), "threshold": float(thresholds[k]),
               "f1": float(f1_score(y_true[:, k], predicted[:, k], zero_division=0)),
               "auc": float(roc_auc_score(y_true[:, k], scores[:, k])) if k in present else float("nan"),
               "average_precision": float(average_precision_score(y_true[:, k], scores[:, k])) if k in present else float("nan")}
        per_genre.append(row)
    summary = {
        "micro_f1": float(f1_score(y_true, predicted, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(y_true[:, present], predicted[:, present], average="macro", zero_division=0)),
        "mean_average_precision": float(np.mean([per_genre[k]["average_precision"] for k in present])),
        "mean_auc": float(np.mean([per_genre[k]["auc"] for k in present])),
    }
    return summary, per_genre


def budget_metrics(y_true: np.ndarray, probabilities: np.ndarray) -> tuple[dict, np.ndarray]:
    """(summary, confusion matrix rows=true, columns=predicted) for class indices and (n, 5) probabilities."""
    classes = np.arange(len(BUDGET_CLASSES))
    predicted = probabilities.argmax(1)
    clipped = np.clip(probabilities, 1e-7, 1.0)
    summary = {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "balanced_accuracy": float(_balanced_accuracy(y_true, predicted)),
        "macro_f1": float(f1_score(y_true, predicted, labels=classes, average="macro", zero_division=0)),
        "log_loss": float(log_loss(y_true, clipped / clipped.sum(1, keepdims=True), labels=classes)),
        "mean_class_error": float(np.abs(predicted - y_true).mean()),
    }
    return summary, confusion_matrix(y_true, predicted, labels=classes)


def _balanced_accuracy(y_true: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present in y_true (scikit-learn's definition, without its
    warning when a predicted class is absent from the truths)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return balanced_accuracy_score(y_true, predicted)


# ---------------------------------------------------------------------------------- baselines


def genre_baselines(train_y: np.ndarray, val_y: np.ndarray, n: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (scores for n images, thresholds): all-zero, and the training prevalence as a constant
    score with thresholds chosen on validation like a model's."""
    prevalence = train_y.mean(0)
    val_scores = np.tile(prevalence, (len(val_y), 1))
    return {
        "all_zero": (np.zeros((n, train_y.shape[1])), np.full(train_y.shape[1], 0.5)),
        "prevalence": (np.tile(prevalence, (n, 1)), calibrate_thresholds(val_y, val_scores)),
    }


def budget_baselines(train_classes: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """name -> (n, 5) probabilities: the majority class with certainty, and the class prior."""
    counts = np.bincount(train_classes, minlength=len(BUDGET_CLASSES)).astype(float)
    prior = (counts + 1) / (counts.sum() + len(counts))  # add-one, so an unseen class is not impossible
    majority = np.zeros(len(counts))
    majority[counts.argmax()] = 1.0
    return {"majority": np.tile(majority, (n, 1)), "prior": np.tile(prior, (n, 1))}
