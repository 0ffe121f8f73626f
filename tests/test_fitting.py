"""The shared fitting loop on a small real regression: early stopping, the best state, the time budget, the schedules."""

import math

import numpy as np
import pytest
import torch

from cineseq_assets.fitting import ONE_CYCLE, FitSettings, fit_loop, seeded


def _problem(seed: int = 0):
    """A linear model fitting y = 2x + 1 with noise; the validation score is the held-out squared error."""
    rng = seeded(seed)
    x = torch.from_numpy(rng.normal(size=(256, 1)).astype(np.float32))
    y = 2 * x + 1 + 0.1 * torch.from_numpy(rng.normal(size=(256, 1)).astype(np.float32))
    model = torch.nn.Linear(1, 1)

    def batch_losses():
        for start in range(0, 192, 32):
            yield torch.nn.functional.mse_loss(model(x[start:start + 32]), y[start:start + 32])

    def validate() -> float:
        return torch.nn.functional.mse_loss(model(x[192:]), y[192:]).item()

    return model, batch_losses, validate


def test_the_same_seed_gives_the_same_history():
    settings = FitSettings(epochs=5, patience=3, learning_rate=0.05)
    first, second = (fit_loop(*_problem(), settings) for _ in range(2))
    assert [h["val_loss"] for h in first.history] == [h["val_loss"] for h in second.history]
    assert first.history[-1]["val_loss"] < first.history[0]["val_loss"]
    assert set(first.history[0]) == {"epoch", "train_loss", "val_loss", "learning_rate", "seconds"}


def test_stops_after_patience_epochs_without_improvement_and_restores_the_best_weights():
    model, batch_losses, validate = _problem()
    scores = iter([3.0, 2.0, 2.5, 2.4, 2.3, 1.0])  # the best is epoch 2; epochs 3-5 do not beat it

    def scripted() -> float:
        validate()
        return next(scores)

    states = []
    fitted = fit_loop(model, batch_losses, scripted, FitSettings(epochs=6, patience=3, learning_rate=0.05),
                      on_improve=lambda history: states.append({k: v.clone() for k, v in model.state_dict().items()}))
    assert fitted.epochs_run == 5 and fitted.best_epoch == 2 and fitted.best_score == 2.0
    assert len(states) == 2  # epochs 1 and 2 improved
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, states[-1][name])
    assert not model.training


def test_a_higher_score_can_be_the_better_one_and_min_delta_counts():
    model, batch_losses, validate = _problem()
    scores = iter([0.5, 0.6, 0.6005, 0.7])
    fitted = fit_loop(model, batch_losses, lambda: next(scores),
                      FitSettings(epochs=4, patience=5, learning_rate=0.05, maximize=True, min_delta=1e-3), score="agreement")
    assert fitted.best_epoch == 4 and fitted.best_score == 0.7
    assert [h["agreement"] for h in fitted.history] == [0.5, 0.6, 0.6005, 0.7]


def test_without_validation_the_last_epoch_is_kept():
    model, batch_losses, _ = _problem()
    fitted = fit_loop(model, batch_losses, None, FitSettings(epochs=3, patience=1, learning_rate=0.05))
    assert fitted.epochs_run == 3 and fitted.best_epoch == 3 and math.isnan(fitted.best_score)


def test_the_time_budget_stops_after_the_epoch_that_crosses_it():
    model, batch_losses, validate = _problem()
    fitted = fit_loop(model, batch_losses, validate, FitSettings(epochs=50, patience=50, learning_rate=0.05, max_seconds=0.0))
    assert fitted.epochs_run == 1


def test_one_cycle_steps_per_batch_and_needs_the_batch_count():
    model, batch_losses, validate = _problem()
    settings = FitSettings(epochs=2, patience=2, learning_rate=0.05, schedule=ONE_CYCLE)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        fit_loop(model, batch_losses, validate, settings)
    fitted = fit_loop(model, batch_losses, validate, settings, steps_per_epoch=6)
    rates = [h["learning_rate"] for h in fitted.history]
    assert rates[1] < rates[0] < 0.05 and rates[1] < 0.05 / 10  # warmed up to 0.05 within epoch 1, then annealed
