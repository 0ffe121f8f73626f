"""The one training loop of the project's networks: optimizer, schedule, early stopping, time budget, best state.

Every trained network (the forecaster, the frame classifier, the trailer emotion student) fits the
same way: AdamW, a learning-rate schedule, one pass over the training batches per epoch, a score on
held-out data after each epoch, the weights of the best epoch kept, and a stop when the score has
not improved for ``patience`` epochs or the time budget is spent. That mechanism lives here once.
What differs stays in the stage: the loss, the batching, the data, the validation score.

A stage hands over its batches as a generator of loss tensors: the loop does the backward pass and
the optimizer step between two batches, so the stage never touches the optimizer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

PLATEAU, ONE_CYCLE = "plateau", "one_cycle"


@dataclass(frozen=True)
class FitSettings:
    epochs: int
    patience: int  # epochs without a better validation score before stopping
    learning_rate: float
    weight_decay: float = 0.0
    max_seconds: float | None = None  # stop after the epoch that crosses it
    maximize: bool = False  # True: a higher score is better (an agreement); False: lower (a loss, a WAPE)
    min_delta: float = 0.0  # an epoch improves only when it beats the best score by more than this
    schedule: str = PLATEAU  # PLATEAU: ReduceLROnPlateau on the score, per epoch; ONE_CYCLE: OneCycleLR, per batch
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    warmup_share: float = 0.15  # ONE_CYCLE: the share of all steps spent raising the learning rate
    clip_norm: float | None = None  # clip each step's gradient norm to this


@dataclass
class FitResult:
    """How a fit went; the model itself holds the best epoch's weights, in eval mode."""

    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train_loss, <score>, learning_rate, seconds
    best_epoch: int = 0  # 0: no epoch improved, the model keeps its last weights
    best_score: float = float("nan")
    seconds: float = 0.0

    @property
    def epochs_run(self) -> int:
        return len(self.history)


def seeded(seed: int) -> np.random.Generator:
    """Seed torch's generator (weight initialisation, dropout) and return the numpy generator a stage
    draws its batches and augmentations from. Call it before building the model."""
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def fit_loop(model: nn.Module, batch_losses: Callable[[], Iterable[torch.Tensor]],
             validate: Callable[[], float] | None, settings: FitSettings, *, score: str = "val_loss",
             parameters: Iterable | None = None, steps_per_epoch: int | None = None,
             on_improve: Callable[[list[dict]], None] | None = None, log: Callable[[str], None] | None = None,
             label: str = "", started: float | None = None) -> FitResult:
    """Train ``model`` until the validation score stops improving; the best epoch's weights are restored.

    ``batch_losses()`` yields one epoch's loss tensors, batch by batch (the model is in train mode).
    ``validate()`` returns the score of the current weights (eval mode, no gradients); ``None`` when
    there is nothing held out: every epoch then counts as the best, so the last weights are kept.
    ``parameters``: what the optimizer updates, a list of tensors or of parameter groups (default:
    every parameter of the model). ``steps_per_epoch`` is needed by the ONE_CYCLE schedule.
    ``on_improve(history)`` runs after each epoch that improves (a checkpoint), ``log`` gets one line
    per epoch, and ``started`` (a ``time.perf_counter()`` value) starts the clock earlier than the call.
    """
    started = time.perf_counter() if started is None else started
    optimizer = torch.optim.AdamW(model.parameters() if parameters is None else parameters,
                                  lr=settings.learning_rate, weight_decay=settings.weight_decay)
    scheduler = _scheduler(optimizer, settings, steps_per_epoch)
    result = FitResult(best_score=-math.inf if settings.maximize else math.inf)
    best_state = None
    for epoch in range(1, settings.epochs + 1):
        model.train()
        losses = [_step(model, optimizer, scheduler, loss, settings) for loss in batch_losses()]
        model.eval()
        with torch.no_grad():
            value = float(validate()) if validate is not None else math.nan
        if settings.schedule == PLATEAU:
            scheduler.step(value)
        result.history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), score: value,
                               "learning_rate": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - started})
        if log is not None:
            log(f"{label}epoch {epoch}: train loss {np.mean(losses):.4f}, {score} {value:.4f}, "
                f"{time.perf_counter() - started:.0f} s")
        if validate is None or _improves(value, result.best_score, settings):
            result.best_epoch, result.best_score = epoch, value
            best_state = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
            if on_improve is not None:
                on_improve(list(result.history))
        out_of_time = settings.max_seconds is not None and time.perf_counter() - started > settings.max_seconds
        if epoch - result.best_epoch >= settings.patience or out_of_time:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.best_score = math.nan
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


def _improves(value: float, best: float, settings: FitSettings) -> bool:
    if settings.maximize:
        return value > best + settings.min_delta
    return value < best - settings.min_delta


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, loss: torch.Tensor, settings: FitSettings) -> float:
    optimizer.zero_grad()
    loss.backward()
    if settings.clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_norm)
    optimizer.step()
    if settings.schedule == ONE_CYCLE:
        scheduler.step()
    return loss.item()


def _scheduler(optimizer: torch.optim.Optimizer, settings: FitSettings, steps_per_epoch: int | None):
    if settings.schedule == PLATEAU:
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max" if settings.maximize else "min",
                                                          factor=settings.plateau_factor, patience=settings.plateau_patience)
    if settings.schedule == ONE_CYCLE:
        if not steps_per_epoch:
            raise ValueError("the one-cycle schedule needs steps_per_epoch (batches per epoch)")
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.learning_rate, pct_start=settings.warmup_share,
                                                   total_steps=settings.epochs * steps_per_epoch)
    raise ValueError(f"unknown learning-rate schedule {settings.schedule!r}: use {PLATEAU!r} or {ONE_CYCLE!r}")
