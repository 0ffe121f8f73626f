"""PNG figures of the frame stage: a trailer's representative frames, the budget confusion matrix,
per-genre AUC of each model, and a film's predicted genres and budget."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pandas as pd

from ..plotting import new_figure, to_png
from .labels import BUDGET_CLASSES


def contact_sheet(images_bgr: Sequence[np.ndarray], timestamps: Sequence[float], title: str, columns: int = 6) -> bytes:
    """The chosen frames in a grid, each captioned with its time in the trailer."""
    rows = max(1, -(-len(images_bgr) // columns))
    fig = new_figure(2.0 * columns, 1.35 * rows + 0.4)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, timestamp in zip(axes, images_bgr, timestamps):
        ax.imshow(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        ax.set_title(f"{timestamp:.1f} s", fontsize=8)
    fig.suptitle(f"{title}: {len(images_bgr)} representative frames (one per shot)")
    return to_png(fig)


def confusion_plot(matrix: np.ndarray, title: str) -> bytes:
    """Budget classes, true (rows) against predicted (columns), with counts in the cells."""
    fig = new_figure(5.5, 4.5)
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(BUDGET_CLASSES))
    ax.set_xticks(ticks, BUDGET_CLASSES, rotation=30, ha="right")
    ax.set_yticks(ticks, BUDGET_CLASSES)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, int(count), ha="center", va="center", color="white" if count > matrix.max() / 2 else "black")
    ax.set_xlabel("predicted budget class")
    ax.set_ylabel("true budget class")
    ax.set_title(title)
    return to_png(fig)


def genre_auc_plot(per_genre: pd.DataFrame, test_set: str) -> bytes:
    """Per-genre ROC AUC of each model on one test set (0.5 = no better than chance)."""
    part = per_genre[(per_genre["test_set"] == test_set) & ~per_genre["model"].str.startswith("baseline_")]
    wide = part.pivot(index="genre", columns="model", values="auc")
    fig = new_figure(9, 4)
    ax = fig.subplots()
    width = 0.8 / max(1, wide.shape[1])
    for i, model in enumerate(wide.columns):
        ax.bar(np.arange(len(wide)) + i * width, wide[model], width, label=model)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(np.arange(len(wide)) + 0.4 - width / 2, wide.index, rotation=30, ha="right")
    ax.set_ylim(0.3, 1.0)
    ax.set_ylabel("ROC AUC")
    ax.set_title(f"Genre AUC per model, {test_set.replace('_', ' ')}")
    ax.legend(fontsize=8, ncol=4)
    return to_png(fig)


def film_prediction_plot(genres: dict[str, float], budget: dict[str, float], title: str) -> bytes:
    """Left: genre probabilities; right: budget class probabilities (PNG)."""
    fig = new_figure(9, 3.2)
    genre_ax, budget_ax = fig.subplots(1, 2, width_ratios=[3, 2])
    names = sorted(genres, key=genres.get)
    genre_ax.barh(names, [genres[n] for n in names], color="#4C72B0")
    genre_ax.set_xlim(0, 1)
    genre_ax.set_title("genre probability")
    budget_ax.bar(list(budget), list(budget.values()), color="#C44E52")
    budget_ax.set_ylim(0, 1)
    budget_ax.tick_params(axis="x", rotation=30)
    budget_ax.set_title("budget class probability")
    fig.suptitle(title)
    return to_png(fig)
