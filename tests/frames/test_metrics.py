"""Metrics and baselines on hand-made predictions whose scores are known."""

import numpy as np

from cineseq_assets.frames.metrics import budget_baselines, budget_metrics, calibrate_thresholds, genre_baselines, genre_metrics

LABELS = ("a", "b", "c")


def test_perfect_genre_scores_score_one():
    truth = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], float)
    summary, per_genre = genre_metrics(truth, truth * 0.9 + 0.05, np.full(3, 0.5), LABELS)
    assert summary == {"micro_f1": 1.0, "macro_f1": 1.0, "mean_average_precision": 1.0, "mean_auc": 1.0}
    assert [row["positives"] for row in per_genre] == [2, 2, 2]


def test_thresholds_are_chosen_for_f1_on_the_given_images():
    truth = np.array([[1], [1], [0], [0]], float)
    scores = np.array([[0.30], [0.25], [0.20], [0.10]])
    assert calibrate_thresholds(truth, scores)[0] == 0.24  # the highest grid value that keeps both positives


def test_genre_baselines_match_their_definitions():
    train = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]], float)
    baselines = genre_baselines(train, train, n=5)
    zero_scores, _ = baselines["all_zero"]
    prevalence, thresholds = baselines["prevalence"]
    assert zero_scores.shape == (5, 3) and not zero_scores.any()
    assert np.allclose(prevalence[0], [0.75, 0.25, 0.0])
    summary, _ = genre_metrics(train[:2].repeat(3, 0)[:5], prevalence, thresholds, LABELS)
    assert summary["mean_auc"] == 0.5  # a constant score ranks nothing


def test_budget_metrics_and_confusion():
    truth = np.array([0, 1, 2, 4, 4])
    probs = np.eye(5)[[0, 1, 3, 4, 0]]
    summary, matrix = budget_metrics(truth, probs)
    assert summary["accuracy"] == 0.6
    assert summary["mean_class_error"] == (0 + 0 + 1 + 0 + 4) / 5
    assert matrix[2, 3] == 1 and matrix[4, 0] == 1 and matrix.sum() == 5


def test_budget_baselines_majority_and_prior():
    baselines = budget_baselines(np.array([4, 4, 4, 2]), n=3)
    assert (baselines["majority"].argmax(1) == 4).all()
    assert np.allclose(baselines["prior"].sum(1), 1) and (baselines["prior"] > 0).all()
    summary, _ = budget_metrics(np.array([4, 2, 0]), baselines["majority"])
    assert summary["balanced_accuracy"] == 1 / 3
