"""The honest evaluation: every model and baseline on the same held-out films, over seeds and splits.

For each split (by film, stratified; and out of time) and each seed, the networks are trained on
the training films, early-stopped and calibrated on the validation films, and scored once on the
test films over origins 2-8 and horizons 1-4. Baselines are fitted on the same training films.
Errors are in dollars; the summary is mean +- std over seeds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from . import baselines
from .metrics import error_table, grouped_errors
from .predict import forecast_frame
from .splits import SplitConfig
from .train import PreparedData, TrainConfig, calibrate_conformal, prepare, train_model

log = logging.getLogger(__name__)

NETWORKS = {  # evaluated name -> TrainConfig changes
    "seq2seq": {"architecture": "seq2seq"},
    "seq2seq_attention": {"architecture": "seq2seq_attention"},
    "seq2seq_attention_direct": {"architecture": "seq2seq_attention", "decay_residual": False},
}
BASELINES = ("naive", "pooled_decay", "film_loglinear", "decay_prior", "gradient_boosting")


@dataclass
class EvaluationConfig:
    seeds: tuple[int, ...] = (0, 1, 2)
    split_kinds: tuple[str, ...] = ("by_film", "out_of_time")
    networks: tuple[str, ...] = tuple(NETWORKS)
    baselines: tuple[str, ...] = BASELINES
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class EvaluationResult:
    forecasts: pd.DataFrame  # test windows x horizons, every model, seed and split kind
    errors: pd.DataFrame  # grouped_errors per (split_kind, model, seed)
    runs: pd.DataFrame  # one row per trained model: seconds, epochs, validation WAPE

    def summary(self, split_kind: str = "by_film", grouping: str = "overall") -> pd.DataFrame:
        """Mean and std over seeds of each model's errors (one row per model and group)."""
        rows = self.errors[(self.errors["split_kind"] == split_kind) & (self.errors["grouping"] == grouping)]
        stats = rows.groupby(["model", "group"])[["wape", "mae", "rmse", "coverage_80"]].agg(["mean", "std"])
        stats.columns = [f"{metric}_{stat}" for metric, stat in stats.columns]
        return stats.reset_index().sort_values(["group", "wape_mean"])


def evaluate(panel: pd.DataFrame, config: EvaluationConfig = EvaluationConfig(), progress=print,
             trailers: pd.DataFrame | None = None) -> EvaluationResult:
    forecasts, runs = [], []
    for kind in config.split_kinds:
        data = prepare(panel, config.train, SplitConfig(kind=kind), trailers)
        progress(f"[{kind}] {len(data.train)} training, {len(data.validation)} validation, "
                 f"{len(data.test)} test windows")
        for seed in config.seeds:
            for name in config.baselines:
                started = time.perf_counter()
                frame = _score_baseline(name, data, seed)
                if frame is not None:
                    forecasts.append(frame.assign(split_kind=kind, seed=seed, model=name))
                    runs.append({"split_kind": kind, "seed": seed, "model": name,
                                 "seconds": time.perf_counter() - started})
            for name in config.networks:
                frame, run = _score_network(name, data, replace(config.train, seed=seed, **NETWORKS[name]))
                forecasts.append(frame.assign(split_kind=kind, seed=seed, model=name))
                runs.append({"split_kind": kind, "seed": seed, "model": name, **run})
                progress(f"[{kind}] seed {seed} {name}: test WAPE {error_table(frame)['wape']:.3f} "
                         f"({run['seconds']:.0f} s, {run['epochs']} epochs)")
    forecasts = pd.concat(forecasts, ignore_index=True)
    errors = grouped_errors(forecasts, extra_keys=["split_kind", "model", "seed"])
    return EvaluationResult(forecasts, errors, pd.DataFrame(runs))


def _score_network(name: str, data: PreparedData, config: TrainConfig) -> tuple[pd.DataFrame, dict]:
    trained = train_model(data, config)
    calibrate_conformal(trained, data.validation)
    started = time.perf_counter()
    quantiles, _ = trained.predict(data.test)
    predict_seconds = time.perf_counter() - started
    frame = forecast_frame(data.test, quantiles, "test").dropna(subset=["actual"])
    best = min(trained.history, key=lambda h: h["validation_wape"])
    return frame, {"seconds": trained.seconds, "epochs": len(trained.history), "best_epoch": best["epoch"],
                   "validation_wape": best["validation_wape"], "predict_seconds": predict_seconds}


def _score_baseline(name: str, data: PreparedData, seed: int) -> pd.DataFrame | None:
    """Point forecasts as a p50 (p10 = p90 = p50: baselines claim no interval)."""
    test = data.test
    if name == "naive":
        point = baselines.naive(test)
    elif name == "pooled_decay":
        point = baselines.pooled_decay(test, data.pooled)
    elif name == "film_loglinear":
        point = baselines.film_loglinear(test, data.pooled)
    elif name == "decay_prior":
        point = baselines.prior(test)
    elif name == "gradient_boosting":
        try:
            model = baselines.fit_gradient_boosting(data.train, data.validation, seed=seed)
        except ImportError:
            log.warning("lightgbm is not installed (pip install -e .[bench]): gradient_boosting skipped")
            return None
        point = baselines.gradient_boosting(test, model)
    else:
        raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")
    frame = forecast_frame(test, np.repeat(point[..., None], 3, axis=2), "test").dropna(subset=["actual"])
    frame[["p10", "p90"]] = np.nan
    return frame


def headline(result: EvaluationResult, split_kind: str = "by_film") -> dict:
    """The numbers the issue asks about: attention vs no attention, residual vs direct, vs baselines."""
    overall = result.summary(split_kind).set_index("model")
    wape = overall["wape_mean"]
    out = {f"wape_{model}": float(value) for model, value in wape.items()}
    if {"seq2seq", "seq2seq_attention"} <= set(wape.index):
        out["attention_change"] = float(wape["seq2seq_attention"] / wape["seq2seq"] - 1)
    if {"seq2seq_attention", "seq2seq_attention_direct"} <= set(wape.index):
        out["decay_residual_change"] = float(wape["seq2seq_attention"] / wape["seq2seq_attention_direct"] - 1)
    if {"seq2seq_attention", "pooled_decay"} <= set(wape.index):
        out["attention_vs_pooled_decay"] = float(wape["seq2seq_attention"] / wape["pooled_decay"] - 1)
    return out
