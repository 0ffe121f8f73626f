"""What every trained model must satisfy, whatever it models: finite weights, outputs of the
promised shape, probabilities that are probabilities, quantiles in order. Each function returns the
problems it found as sentences (empty: none), for the asset checks beside the model assets."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

PROBE_SEED = 0


def non_finite_weights(state: Mapping[str, np.ndarray]) -> list[str]:
    """Names (with counts) of the arrays holding NaN or infinite values."""
    problems = []
    for name, values in state.items():
        values = np.asarray(values)
        bad = int(values.size - np.isfinite(values).sum()) if np.issubdtype(values.dtype, np.number) else 0
        if bad:
            problems.append(f"{name}: {bad} of {values.size} values are not finite")
    return problems


def shape_problems(values: np.ndarray, expected: tuple[int, ...], what: str) -> list[str]:
    shape = tuple(np.shape(values))
    return [] if shape == tuple(expected) else [f"{what} has shape {shape}, expected {tuple(expected)}"]


def probability_problems(probabilities: np.ndarray, rows: int, classes: int, what: str, sums_to_one: bool = True) -> list[str]:
    """[rows, classes] finite values in [0, 1] (each row summing to 1 when the classes exclude each other)."""
    problems = shape_problems(probabilities, (rows, classes), what)
    if problems:
        return problems
    values = np.asarray(probabilities, dtype=float)
    if not np.isfinite(values).all() or (values < 0).any() or (values > 1).any():
        problems.append(f"{what} has values outside [0, 1]")
    elif sums_to_one and not np.allclose(values.sum(axis=1), 1.0, atol=1e-3):
        problems.append(f"{what}: rows sum to {values.sum(axis=1).min():.4f}..{values.sum(axis=1).max():.4f}, not 1")
    return problems


def quantile_problems(quantiles: np.ndarray, rows: int, horizon: int) -> list[str]:
    """[rows, horizon, 3] finite quantiles with p10 <= p50 <= p90 everywhere."""
    problems = shape_problems(quantiles, (rows, horizon, 3), "the quantile forecast")
    if problems:
        return problems
    values = np.asarray(quantiles, dtype=float)
    if not np.isfinite(values).all():
        return [f"{int((~np.isfinite(values)).sum())} quantiles are not finite"]
    crossed = int(((values[..., 0] > values[..., 1]) | (values[..., 1] > values[..., 2])).sum())
    return [f"{crossed} of {rows * horizon} window-horizons have p10 > p50 or p50 > p90"] if crossed else []


def probe_images(count: int = 4, height: int = 120, width: int = 160) -> list[np.ndarray]:
    """Deterministic BGR noise images (uint8), a probe batch for image models."""
    rng = np.random.default_rng(PROBE_SEED)
    return [rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8) for _ in range(count)]
