"""The peers of the forecast benchmark: what a practitioner would try first, each through its own library.

Every peer is a ``forecast.forecaster.Forecaster`` (fit on a PreparedData, predict log1p quantiles
[N, 4, 3] of test windows), built by ``peer_forecasters(panel)`` because peers read the film series
(the panel), which the prepared windows do not carry. A test window (film, origin t) is the film's
panel weeks 1..t: a "cut series" with unique_id "film@t" and integer ds = week of run (films open
on different weekdays, so calendar dates would not line up). Nothing after week t reaches a forecast.
None of the peers early-stops, so each learns from the training and validation films (all origins);
the test films are only forecast. Calendar facts known ahead (week of run, the US holidays of a
week, month) come from the origin row's ``holiday_*_w{k}`` columns and its week_start.

- ``direct_lightgbm``: one LightGBM over rows (film, origin t, horizon h), target
  log((G[t+h]+1)/(G[t]+1)); objective quantile alpha 0.5 (WAPE is minimized by the median), 600
  trees, learning rate 0.03, 63 leaves, min 40 rows per leaf, bagging 0.8 every iteration,
  feature_fraction 0.8, no sample weights, the 15 features of ``DIRECT_FEATURES``.
- ``mlforecast_lightgbm``: mlforecast's recursive pipeline, LightGBM with the L1 objective (same
  size as above), target log1p gross differenced once (``Differences([1])``: the model learns the
  week's log retention, the pipeline adds the level back), lags 1-4, a rolling mean of 4 and an
  expanding mean of lag 1; known ahead: week of run, holidays in the week, month; theaters lagged
  one week (in the forecast the origin's theaters carry forward: the later counts are not known);
  static: log opening theaters and opening gross. ``dropna=False``: LightGBM reads a lag before
  opening as missing, so the early weeks (the ones scored) stay in training.
- ``nhits``, ``tft``: neuralforecast global models, h=4, input_size 8, ``start_padding_enabled``
  (a cut series may have 2 weeks), futr_exog log week of run and holidays in the week, hist_exog log
  theaters, stat_exog log opening theaters and wide release, ``MQLoss(level=[80])`` (p50 and an 80%
  band), seeded. Scaling, chosen on a 400-film trial: NHITS ``scaler_type="identity"`` (its default;
  its per-window robust or standard scaling divides by the spread of a 2-3 week history and blew some
  forecasts up to e^285), TFT ``"robust"`` (its default; identity left it at 0.90 WAPE against 0.49
  after 200 steps). NHITS 800 steps (~2.5 min on one core), TFT 500 steps with hidden size 64 (a
  step costs ~2x NHITS's; ~4-5 min).
  The API's validation (``val_size``/``val_df``) holds out the last weeks of each training series,
  not whole films, so there is no early stopping: a fixed number of steps on training + validation films.
- ``autoets``: statsforecast AutoETS (season_length 1, model picked by AICc) on each cut series'
  log1p gross, with its 80% interval. Fallback: a history shorter than ``MIN_ETS_WEEKS`` weeks gets
  the product's pooled decay (``baselines.pooled_decay``, no band); ``fit_report`` counts those windows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd

from cineseq_assets.forecast import baselines
from cineseq_assets.forecast.features import HORIZON
from cineseq_assets.forecast.forecaster import Forecaster
from cineseq_assets.forecast.metrics import interval_coverage, point_errors
from cineseq_assets.forecast.train import PreparedData, TrainConfig
from cineseq_assets.forecast.windows import Windows

FIT_SPLITS = ("train", "validation")  # no peer early-stops: both feed its fit
MIN_ETS_WEEKS = 7  # statsforecast's ets raises "tiny datasets" below 7 points; shorter histories use the pooled decay
DIRECT_FEATURES = ["horizon", "log_gross", "log_retention", "log_retention_prev", "log_theaters", "log_theater_change",
                   "log_opening_theaters", "log_opening_gross", "target_month", "target_iso_week", "target_week_of_run",
                   "opening_weekday", "target_holidays", "origin_holidays", "origin"]


def peer_forecasters(panel: pd.DataFrame, threads: int = 1) -> dict[str, Callable[[TrainConfig], Forecaster]]:
    """name -> factory of a TrainConfig (its seed), as ``evaluate.EvaluationConfig.extra_forecasters`` takes them."""
    series = film_weeks(panel)
    return {"direct_lightgbm": partial(DirectLightGBM, series=series, threads=threads),
            "mlforecast_lightgbm": partial(MLForecastLightGBM, series=series, threads=threads),
            "nhits": partial(NeuralPeer, series=series, model="NHITS", max_steps=800),
            "tft": partial(NeuralPeer, series=series, model="TFT", max_steps=500, scaler="robust"),
            "autoets": partial(AutoETSPeer, series=series)}


# ------------------------------------------------------------------ the series, cut at each origin


def _holidays(panel: pd.DataFrame, k: int) -> pd.Series:
    """US holidays in week t+k of each row (the panel's holiday_<name>_w<k> flags, summed)."""
    return panel[[c for c in panel.columns if c.startswith("holiday_") and c.endswith(f"_w{k}")]].sum(axis=1)


def film_weeks(panel: pd.DataFrame) -> pd.DataFrame:
    """One row per film-week with what the peers read, sorted by film and week."""
    panel = panel.sort_values(["film_id", "week"]).reset_index(drop=True)
    frame = pd.DataFrame({"film_id": panel["film_id"].astype(str), "week": panel["week"].astype(int),
                          "week_start": pd.to_datetime(panel["week_start"]),
                          "y": np.log1p(panel["gross"].astype(float)),
                          "log_theaters": np.log1p(panel["theaters"].astype(float)),
                          "log_opening_theaters": np.log1p(panel["opening_theaters"].astype(float)),
                          "wide": (panel["release_width"] == "wide").astype(float)})
    for k in range(HORIZON + 1):
        frame[f"holidays_w{k}"] = _holidays(panel, k).to_numpy(dtype=float)
    return frame


def origins_of(windows: Windows) -> pd.DataFrame:
    film, origin = windows.film_id.astype(str), windows.origin.astype(int)
    return pd.DataFrame({"film_id": film, "origin": origin,
                         "unique_id": [f"{f}@{t}" for f, t in zip(film, origin)]})


def cut_series(series: pd.DataFrame, windows: Windows) -> pd.DataFrame:
    """Each window's history, weeks 1..t, as its own series "film@t" (ds = week of run)."""
    cut = origins_of(windows).merge(series, on="film_id")
    cut = cut[cut["week"] <= cut["origin"]].rename(columns={"week": "ds"})
    return cut.sort_values(["unique_id", "ds"]).reset_index(drop=True)


def future_calendar(series: pd.DataFrame, windows: Windows) -> pd.DataFrame:
    """Weeks t+1..t+4 of each window with what is known at t: week of run, holidays, month, the
    theaters of week t (the later counts are not known)."""
    at_origin = origins_of(windows).merge(series, left_on=["film_id", "origin"], right_on=["film_id", "week"])
    rows = []
    for k in range(1, HORIZON + 1):
        week_start = at_origin["week_start"] + pd.Timedelta(days=7 * k)
        rows.append(pd.DataFrame({"unique_id": at_origin["unique_id"], "ds": at_origin["origin"] + k,
                                  "week_of_run": (at_origin["origin"] + k).astype(float),
                                  "log_week_of_run": np.log((at_origin["origin"] + k).astype(float)),
                                  "holidays": at_origin[f"holidays_w{k}"], "month": week_start.dt.month.astype(float),
                                  "log_theaters_prev": at_origin["log_theaters"]}))
    return pd.concat(rows, ignore_index=True).sort_values(["unique_id", "ds"]).reset_index(drop=True)


def training_series(series: pd.DataFrame, data: PreparedData) -> pd.DataFrame:
    """The whole runs of the films that peers learn from (training and validation films)."""
    films = data.split[data.split.isin(FIT_SPLITS)].index.astype(str)
    return series[series["film_id"].isin(films)].rename(columns={"film_id": "unique_id", "week": "ds"}).reset_index(drop=True)


def quantile_array(windows: Windows, forecast: pd.DataFrame, columns: tuple[str | None, str, str | None]) -> np.ndarray:
    """[N, 4, 3] log1p quantiles from a long forecast (unique_id, ds, p10/p50/p90 columns; None: no band).
    A (window, horizon) the forecast lacks stays NaN: the method did not cover it."""
    out = np.full((len(windows), HORIZON, 3), np.nan)
    position = {uid: i for i, uid in enumerate(origins_of(windows)["unique_id"])}
    rows = forecast["unique_id"].map(position).to_numpy()
    step = forecast["ds"].to_numpy(dtype=int) - windows.origin[rows].astype(int) - 1
    keep = (step >= 0) & (step < HORIZON)
    for q, column in enumerate(columns):
        if column is not None:
            out[rows[keep], step[keep], q] = forecast[column].to_numpy(dtype=float)[keep]
    return out


class PanelPeer(Forecaster):
    """A peer that reads the film series; ``series`` is ``film_weeks(panel)``."""

    def __init__(self, config: TrainConfig, series: pd.DataFrame, threads: int = 1):
        super().__init__(config)
        self.series, self.threads = series, threads


# ------------------------------------------------------------------ the direct LightGBM


def direct_features(series: pd.DataFrame, origins: pd.DataFrame) -> pd.DataFrame:
    """The 15 features of each (film_id, origin) row of ``origins`` and each horizon 1..4 (film_id and
    DIRECT_FEATURES, origin and horizon among them; horizon blocks in the order of ``origins``): only
    weeks <= origin of a film feed its row."""
    s = series.sort_values(["film_id", "week"])
    by_film = s.groupby("film_id", sort=False)
    first = by_film.transform("first")  # week 1: the opening
    at = pd.DataFrame({
        "film_id": s["film_id"], "origin": s["week"], "week_start": s["week_start"],
        "log_gross": s["y"], "log_retention": s["y"] - by_film["y"].shift(1),
        "log_theaters": s["log_theaters"], "log_theater_change": s["log_theaters"] - by_film["log_theaters"].shift(1),
        "log_opening_theaters": s["log_opening_theaters"], "log_opening_gross": first["y"],
        "opening_weekday": first["week_start"].dt.day_of_week.astype(float),
        "origin_holidays": s["holidays_w0"], **{f"holidays_w{k}": s[f"holidays_w{k}"] for k in range(1, HORIZON + 1)}})
    at["log_retention_prev"] = at.groupby("film_id", sort=False)["log_retention"].shift(1)
    rows = origins[["film_id", "origin"]].merge(at, on=["film_id", "origin"], how="left")
    parts = []
    for h in range(1, HORIZON + 1):
        target_start = rows["week_start"] + pd.Timedelta(days=7 * h)
        parts.append(rows.assign(horizon=h, target_month=target_start.dt.month.astype(float),
                                 target_iso_week=target_start.dt.isocalendar().week.astype(float),
                                 target_week_of_run=(rows["origin"] + h).astype(float),
                                 target_holidays=rows[f"holidays_w{h}"]))
    features = pd.concat(parts, ignore_index=True)
    features[DIRECT_FEATURES] = features[DIRECT_FEATURES].astype(float)
    return features[["film_id", *DIRECT_FEATURES]]


def direct_training_rows(series: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Every (film, origin, horizon) with a known target: features and log((G[t+h]+1)/(G[t]+1))."""
    origins = series[["film_id", "week"]].rename(columns={"week": "origin"})
    features = direct_features(series, origins)
    ahead = pd.DataFrame({"film_id": features["film_id"], "week": (features["origin"] + features["horizon"]).astype(int)})
    later = ahead.merge(series[["film_id", "week", "y"]], on=["film_id", "week"], how="left")["y"]
    target = later.to_numpy() - features["log_gross"].to_numpy()
    known = ~np.isnan(target)
    return features[known].reset_index(drop=True), target[known]


class DirectLightGBM(PanelPeer):
    requires = ("lightgbm",)

    def fit(self, data: PreparedData) -> DirectLightGBM:
        import lightgbm as lgb

        rows = training_series(self.series, data).rename(columns={"unique_id": "film_id", "ds": "week"})
        features, target = direct_training_rows(rows)
        self.model = lgb.LGBMRegressor(objective="quantile", alpha=0.5, n_estimators=600, learning_rate=0.03, num_leaves=63,
                                       min_child_samples=40, subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                                       random_state=self.config.seed, n_jobs=self.threads, verbose=-1)
        self.model.fit(features[DIRECT_FEATURES], target)
        self.rows = len(features)
        return self

    def predict(self, windows: Windows) -> np.ndarray:
        features = direct_features(self.series, origins_of(windows)[["film_id", "origin"]])
        p50 = features["log_gross"].to_numpy() + self.model.predict(features[DIRECT_FEATURES])
        out = np.full((len(windows), HORIZON, 3), np.nan)
        # direct_features stacks horizon blocks of the windows in order
        out[:, :, 1] = p50.reshape(HORIZON, len(windows)).T
        return out

    def fit_report(self) -> dict:
        return {"training_rows": self.rows}


# ------------------------------------------------------------------ mlforecast + LightGBM (recursive)

MLF_EXOGENOUS = ["week_of_run", "holidays", "month", "log_theaters_prev"]
MLF_STATIC = ["log_opening_theaters", "log_opening_gross"]


def _mlf_frame(series: pd.DataFrame) -> pd.DataFrame:
    """unique_id, ds, y, the known-ahead exogenous columns (as of each week) and the static ones."""
    by_id = series.groupby("unique_id", sort=False)
    return pd.DataFrame({"unique_id": series["unique_id"], "ds": series["ds"], "y": series["y"],
                         "week_of_run": series["ds"].astype(float), "holidays": series["holidays_w0"],
                         "month": series["week_start"].dt.month.astype(float),
                         # the week before's theaters (0 before opening): what a forecast for next week knows
                         "log_theaters_prev": by_id["log_theaters"].shift(1).fillna(0.0),
                         "log_opening_theaters": series["log_opening_theaters"],
                         "log_opening_gross": by_id["y"].transform("first")})


class MLForecastLightGBM(PanelPeer):
    requires = ("mlforecast", "lightgbm")

    def fit(self, data: PreparedData) -> MLForecastLightGBM:
        import lightgbm as lgb
        from mlforecast import MLForecast
        from mlforecast.lag_transforms import ExpandingMean, RollingMean
        from mlforecast.target_transforms import Differences

        model = lgb.LGBMRegressor(objective="l1", n_estimators=600, learning_rate=0.03, num_leaves=63, min_child_samples=40,
                                  subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=self.config.seed,
                                  n_jobs=self.threads, verbose=-1)
        self.forecast = MLForecast(models={"lgbm": model}, freq=1, lags=[1, 2, 3, 4],
                                   lag_transforms={1: [RollingMean(window_size=4), ExpandingMean()]},
                                   target_transforms=[Differences([1])], num_threads=self.threads)
        self.forecast.fit(_mlf_frame(training_series(self.series, data)), static_features=MLF_STATIC, dropna=False)
        return self

    def predict(self, windows: Windows) -> np.ndarray:
        history = _mlf_frame(cut_series(self.series, windows))
        future = future_calendar(self.series, windows)[["unique_id", "ds", *MLF_EXOGENOUS]]
        forecast = self.forecast.predict(h=HORIZON, new_df=history, X_df=future)
        return quantile_array(windows, forecast, (None, "lgbm", None))


# ------------------------------------------------------------------ neuralforecast NHITS and TFT

NF_FUTURE = ["log_week_of_run", "holidays"]
NF_HISTORY = ["log_theaters"]
NF_STATIC = ["log_opening_theaters", "wide"]


def _nf_frames(series: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the temporal frame: unique_id, ds, y, futr and hist exogenous; the static frame)."""
    temporal = pd.DataFrame({"unique_id": series["unique_id"], "ds": series["ds"], "y": series["y"],
                             "log_week_of_run": np.log(series["ds"].astype(float)), "holidays": series["holidays_w0"],
                             "log_theaters": series["log_theaters"]})
    static = series.drop_duplicates("unique_id")[["unique_id", *NF_STATIC]].reset_index(drop=True)
    return temporal, static


class NeuralPeer(PanelPeer):
    requires = ("neuralforecast",)

    def __init__(self, config: TrainConfig, series: pd.DataFrame, model: str, max_steps: int, scaler: str = "identity"):
        super().__init__(config, series)
        self.model_name, self.max_steps, self.scaler = model, max_steps, scaler

    def fit(self, data: PreparedData) -> NeuralPeer:
        from neuralforecast import NeuralForecast
        from neuralforecast import models as nf_models
        from neuralforecast.losses.pytorch import MQLoss

        for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning_fabric"):
            logging.getLogger(name).setLevel(logging.ERROR)  # one line per trainer start otherwise
        settings = dict(h=HORIZON, input_size=8, futr_exog_list=NF_FUTURE, hist_exog_list=NF_HISTORY,
                        stat_exog_list=NF_STATIC, loss=MQLoss(level=[80]), max_steps=self.max_steps,
                        start_padding_enabled=True, scaler_type=self.scaler, random_seed=self.config.seed,
                        accelerator="cpu", devices=1, enable_progress_bar=False, enable_model_summary=False,
                        logger=False, enable_checkpointing=False)
        if self.model_name == "TFT":
            settings["hidden_size"] = 64
        model = getattr(nf_models, self.model_name)(**settings)
        self.forecast = NeuralForecast(models=[model], freq=1)
        temporal, static = _nf_frames(training_series(self.series, data))
        self.forecast.fit(df=temporal, static_df=static)
        return self

    def predict(self, windows: Windows) -> np.ndarray:
        temporal, static = _nf_frames(cut_series(self.series, windows))
        future = future_calendar(self.series, windows)[["unique_id", "ds", *NF_FUTURE]]
        forecast = self.forecast.predict(df=temporal, static_df=static, futr_df=future)
        name = self.model_name
        return quantile_array(windows, forecast.reset_index() if "unique_id" not in forecast else forecast,
                              (f"{name}-lo-80", f"{name}-median", f"{name}-hi-80"))


# ------------------------------------------------------------------ statsforecast AutoETS


class AutoETSPeer(PanelPeer):
    requires = ("statsforecast",)

    def fit(self, data: PreparedData) -> AutoETSPeer:
        self.pooled = data.pooled  # the fallback's retention: training films only
        return self

    def predict(self, windows: Windows) -> np.ndarray:
        from statsforecast import StatsForecast
        from statsforecast.models import AutoETS

        long_enough = windows.origin >= MIN_ETS_WEEKS
        out = np.full((len(windows), HORIZON, 3), np.nan)
        out[~long_enough, :, 1] = baselines.pooled_decay(windows.subset(~long_enough), self.pooled)
        self.fallback_windows, self.windows = int((~long_enough).sum()), len(windows)
        if long_enough.any():
            chosen = windows.subset(long_enough)
            history = cut_series(self.series, chosen)[["unique_id", "ds", "y"]]
            forecast = StatsForecast(models=[AutoETS(season_length=1)], freq=1, n_jobs=1).forecast(
                df=history, h=HORIZON, level=[80])
            out[long_enough] = quantile_array(chosen, forecast, ("AutoETS-lo-80", "AutoETS", "AutoETS-hi-80"))
        return out

    def fit_report(self) -> dict:
        return {"fallback_windows": getattr(self, "fallback_windows", 0), "windows": getattr(self, "windows", 0)}


# ------------------------------------------------------------------ the side-by-side table


def _wape(frame: pd.DataFrame) -> float:
    return point_errors(frame["p50"], frame["actual"])["wape"] if len(frame) else float("nan")


def _scores(frame: pd.DataFrame, reference: pd.DataFrame | None) -> dict:
    """One model's scores on one seed's test rows (``frame``: forecast_frame rows with a known actual)."""
    covered = frame[frame["p50"].notna()]
    errors = point_errors(covered["p50"], covered["actual"]) if len(covered) else {"mae": np.nan, "rmse": np.nan}
    banded = covered[covered["p10"].notna() & covered["p90"].notna()]
    row = {"rows": len(covered), "of": len(frame), "wape": _wape(covered), "mae": errors["mae"], "rmse": errors["rmse"],
           "cover80": interval_coverage(banded["p10"], banded["p90"], banded["actual"]) if len(banded) else np.nan,
           "banded": len(banded), **{f"h{h}": _wape(covered[covered["horizon"] == h]) for h in range(1, HORIZON + 1)}}
    if reference is not None and len(covered) < len(frame):  # the reference on exactly the rows this model covered
        keys = ["film_id", "origin_week", "horizon"]
        same = reference.merge(covered[keys], on=keys)
        row["reference_wape_same_rows"] = _wape(same.dropna(subset=["p50"]))
    return row


def side_by_side(forecasts: pd.DataFrame, runs: pd.DataFrame, split_kind: str, reference: str = "seq2seq_attention",
                 peers: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per model of ``split_kind`` (mean over seeds): WAPE overall and per horizon, MAE, RMSE,
    80% coverage on the rows with a band, fit and predict seconds, rows covered (n of N); a model that
    left rows uncovered is scored on its rows, with ``reference``'s WAPE on the same rows beside it."""
    part = forecasts[forecasts["split_kind"] == split_kind]
    rows = []
    for (model, seed), frame in part.groupby(["model", "seed"], sort=True):
        ref = part[(part["model"] == reference) & (part["seed"] == seed)]
        rows.append({"model": model, "seed": seed, **_scores(frame, ref if len(ref) else None)})
    scores = pd.DataFrame(rows).groupby("model").mean(numeric_only=True).drop(columns="seed")
    if "reference_wape_same_rows" not in scores:
        scores["reference_wape_same_rows"] = np.nan
    timing = runs[runs["split_kind"] == split_kind].groupby("model")[["seconds", "predict_seconds"]].median()
    scores = scores.join(timing)
    if "fallback_windows" in runs:
        fallback = runs[runs["split_kind"] == split_kind].groupby("model")[["fallback_windows", "windows"]].median()
        scores = scores.join(fallback)
    scores["peer"] = scores.index.isin(peers)
    return scores.sort_values("wape")


def best_peer(scores: pd.DataFrame) -> str | None:
    """The peer with the lowest WAPE among those that forecast every row (a partial one cannot win on fewer rows)."""
    complete = scores[scores["peer"] & (scores["rows"] == scores["of"])]
    return complete["wape"].idxmin() if len(complete) else None


def format_table(scores: pd.DataFrame, reference: str) -> str:
    def fmt(value, spec: str) -> str:
        return "-" if pd.isna(value) else format(value, spec)

    out = []
    for model, s in scores.iterrows():
        note = []
        if s.get("fallback_windows", 0) and not pd.isna(s.get("fallback_windows")):
            note.append(f"pooled-decay fallback on {s['fallback_windows']:.0f} of {s['windows']:.0f} windows")
        if s["banded"] and s["banded"] < s["rows"]:
            note.append(f"band on {s['banded']:.0f} rows")
        out.append({"model": model + (" (peer)" if s["peer"] else ""), "WAPE": fmt(s["wape"], ".3f"),
                    **{f"h{h}": fmt(s[f"h{h}"], ".3f") for h in range(1, HORIZON + 1)},
                    "MAE $k": fmt(s["mae"] / 1e3, ".0f"), "RMSE $k": fmt(s["rmse"] / 1e3, ".0f"),
                    "cover80": fmt(s["cover80"], ".2f"), "fit s": fmt(s["seconds"], ".1f"),
                    "predict s": fmt(s["predict_seconds"], ".2f"), "rows": f"{s['rows']:.0f} / {s['of']:.0f}",
                    f"{reference} on same rows": fmt(s["reference_wape_same_rows"], ".3f"), "notes": "; ".join(note)})
    return pd.DataFrame(out).to_markdown(index=False)
