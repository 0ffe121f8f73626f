"""Serving forecasts to a front end (the Gradio demo), without Dagster or Gradio.

:class:`ModelWatcher` holds the serving model materialized in the storage folder and reloads it
when a newer one is materialized (``serving.json`` or the weights file changed), so a running
demo picks up a new model on its next request. :class:`FilmService` answers the questions the
demo asks: which films there are, one film's forecast from any origin week against what really
happened, why the model forecast that, and a forecast for a film that is not in the catalog.
"""

from __future__ import annotations

import difflib
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..boxoffice.features import MarketCalendar
from ..errors import CineSeqError, ModelError
from ..storage import asset_path, read_asset
from ..weights import read_metadata
from .store import latest_model_path, load_model, model_dir
from .train import TrainedModel
from .windows import Windows, build_windows

FORECAST_TABLE_COLUMNS = ["week", "week_start", "p10", "p50", "p90", "decay_baseline", "actual"]
HISTORY_COLUMNS = ["week", "week_start", "gross", "theaters"]
ATTENTION_ARCHITECTURE = "seq2seq_attention"


class FilmNotFoundError(CineSeqError, LookupError):
    """A film id or title that the catalog does not hold (or holds more than once)."""


@dataclass
class ServedModel:
    """The model in use, where it came from and how it trained."""

    model: TrainedModel  # PyTorch: explanations need gradients
    path: Path
    materialized_at: datetime  # when its weights file was written (UTC)
    metrics: dict  # training metrics stored with it (validation WAPE, epochs, seconds, ...)
    runner: object  # what forecasts: the ONNX export in onnxruntime when it matches, else ``model``

    @property
    def architecture(self) -> str:
        return self.model.architecture

    def summary(self) -> dict:
        """What a page shows about the model: JSON-ready."""
        return {"architecture": self.architecture, "file": self.path.name,
                "runtime": "onnxruntime" if self.runner is not self.model else "pytorch",
                "materialized_at": self.materialized_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "validation_wape": self.metrics.get("validation_wape"),
                "best_epoch": self.metrics.get("best_epoch"), "epochs": self.metrics.get("epochs"),
                "training_seconds": self.metrics.get("seconds")}


class ModelWatcher:
    """The serving model of ``storage_dir``, reloaded when a newer one is materialized.

    A check is two ``stat`` calls; the model is read again only when the serving choice or its
    weights file changed. If the new file cannot be read (a materialization in progress, a bad
    file), the previous model keeps serving and the error is kept in ``reload_error``.
    """

    def __init__(self, storage_dir: Path):
        self.storage_dir = Path(storage_dir)
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._served: ServedModel | None = None
        self.reload_error: str | None = None

    def current(self) -> ServedModel:
        """The model to use now; raises ``ModelError`` (saying how to train one) when there is none."""
        with self._lock:
            try:
                path = latest_model_path(self.storage_dir)
                signature = _signature(path, model_dir(self.storage_dir))
            except (ModelError, FileNotFoundError) as error:
                if self._served is None:
                    raise error if isinstance(error, ModelError) else ModelError(
                        model_dir(self.storage_dir), "no trained forecaster", str(error)) from error
                return self._served
            if signature != self._signature:
                self._reload(path, signature)
            return self._served

    def _reload(self, path: Path, signature: tuple) -> None:
        try:
            model, metrics = load_model(path)
        except (CineSeqError, OSError, ValueError, KeyError) as error:
            self.reload_error = f"{path.name}: {error}"
            if self._served is None:
                raise
            return
        written = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
        self._served = ServedModel(model, path, written, metrics, _onnx_runner(path, model, metrics) or model)
        self._signature, self.reload_error = signature, None


def _onnx_runner(weights: Path, model: TrainedModel, metrics: dict):
    """The network of ``weights`` in onnxruntime (one thread: requests run side by side), or None
    when its ONNX export is missing or was exported from other weights. onnxruntime runs one
    film's windows in ~0.3 ms, PyTorch's Python-level LSTM loop in ~3 ms."""
    from .onnx_export import OnnxForecaster

    try:
        return OnnxForecaster(weights.with_suffix(".onnx"), weights, threads=1, loaded=(model, metrics))
    except (CineSeqError, OSError, ValueError):
        return None


def _signature(weights: Path, folder: Path) -> tuple:
    serving = (folder / "serving.json").stat()
    stat = weights.stat()
    return weights.name, serving.st_mtime_ns, stat.st_mtime_ns, stat.st_size


@dataclass
class FilmForecast:
    """One film's forecast from one origin week, with its history, baseline and backtest errors."""

    film_id: str
    title: str
    origin_week: int
    last_week: int  # the latest observed week: the live forecast's origin
    history: pd.DataFrame  # HISTORY_COLUMNS, every observed week
    table: pd.DataFrame  # FORECAST_TABLE_COLUMNS, the 4 forecast weeks (actual NaN where unknown)
    errors: pd.DataFrame  # the film's backtest errors per horizon over every origin with actuals
    window: Windows  # the one window forecast (for explanations)
    attention: np.ndarray | None  # [H, L] attention weights, None without attention
    model: ServedModel
    timing_ms: dict  # "model": the network's forward pass, "forecast": windows + network + tables

    @property
    def live(self) -> bool:
        return self.origin_week == self.last_week


class FilmService:
    """Films of the materialized panel, forecast by the serving model of ``storage_dir``."""

    def __init__(self, storage_dir: Path):
        self.storage_dir = Path(storage_dir)
        self.models = ModelWatcher(self.storage_dir)
        self._lock = threading.Lock()
        self._panel_signature: tuple | None = None
        self._panels: dict[str, pd.DataFrame] = {}
        self._histories: dict[str, pd.DataFrame] = {}
        self._catalog = pd.DataFrame()
        self._attention: tuple[tuple, TrainedModel] | None = None
        self._panel = pd.DataFrame()
        self._names: dict[str, dict[str, list[str]]] = {}
        self._windows: tuple[tuple, Windows, dict[str, tuple[int, int]]] | None = None

    # ------------------------------------------------------------------------------- the catalog

    def catalog(self) -> pd.DataFrame:
        """film_id, title, year, label ("Title (year)"), showcase, weeks: showcase films first, then by title."""
        self._refresh_panel()
        return self._catalog

    def resolve(self, query: str) -> str:
        """The film id for an id, a title or a "Title (year)" label (case-insensitive)."""
        text = str(query or "").strip()
        if not text:
            raise FilmNotFoundError("no film given: type a title (e.g. Inception) or a film id (e.g. rl2908456449)")
        catalog = self.catalog()
        if text in self._panels:
            return text
        for column in ("label", "title"):
            matches = self._names[column].get(text.casefold(), [])
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                labels = catalog.set_index("film_id").loc[matches[:5], "label"]
                raise FilmNotFoundError(f"{text!r} matches {len(matches)} films: "
                                        f"{', '.join(labels)}. Give the year or the film id.")
        close = difflib.get_close_matches(text, catalog["title"].tolist(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise FilmNotFoundError(f"no film {text!r} in the materialized panel ({len(catalog):,} films).{hint}")

    def _refresh_panel(self) -> None:
        """Read the panel again when the panel asset was materialized since the last read."""
        path = asset_path("panel", root=self.storage_dir)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ModelError(path, "no materialized panel",
                             "Materialize the asset graph first: `cineseq run` (or the Dagster UI).") from None
        signature = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if signature == self._panel_signature:
                return
            panel = read_asset("panel", root=self.storage_dir)
            self._panel = panel
            self._panels = {str(k): v.sort_values("week", ignore_index=True) for k, v in panel.groupby("film_id", sort=False)}
            self._histories = {k: v[HISTORY_COLUMNS] for k, v in self._panels.items()}
            self._catalog = _catalog(panel, self.storage_dir)
            self._names = {column: _ids_by_name(self._catalog, column) for column in ("label", "title")}
            self._panel_signature = signature

    # ------------------------------------------------------------------------------ forecasting

    def forecast(self, query: str, origin_week: int | None = None) -> FilmForecast:
        """The film's forecast from ``origin_week`` (None or 0: its latest observed week)."""
        film_id = self.resolve(query)
        served = self.models.current()
        windows = self._film_windows(film_id, served.model.train_config.encoder_length)
        return forecast_panel(self._panels[film_id], served, origin_week, windows, self._histories[film_id])

    def _film_windows(self, film_id: str, encoder_length: int) -> Windows:
        """The film's windows from every origin, cut from windows built once for the whole panel
        (0.9 s for 2,885 films, against 18 ms for one film alone: pandas' per-call overhead)."""
        with self._lock:
            key = (self._panel_signature, encoder_length)
            if self._windows is None or self._windows[0] != key:
                windows = build_windows(self._panel, encoder_length, min_targets=0)
                ids = windows.film_id.astype(str)
                starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
                ends = np.r_[starts[1:], len(ids)]
                self._windows = (key, windows, {ids[a]: (a, b) for a, b in zip(starts, ends)})
            _, windows, rows = self._windows
        first, end = rows[film_id]
        return windows.subset(slice(first, end))

    def explain(self, forecast: FilmForecast) -> Explanation:
        """Integrated Gradients and attention for ``forecast`` (see :func:`explain_forecast`)."""
        return explain_forecast(forecast, None if forecast.attention is not None else self._attention_model())

    def _attention_model(self) -> TrainedModel | None:
        """The attention network stored beside the serving model, if any (cached until it changes)."""
        path = model_dir(self.storage_dir) / f"{ATTENTION_ARCHITECTURE}.parquet"
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        signature = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._attention is None or self._attention[0] != signature:
                self._attention = (signature, load_model(path)[0])
            return self._attention[1]

    def forecast_new_film(self, weekly_file: Path, market: MarketCalendar | None = None) -> FilmForecast:
        """The forecast for the first film of a user's weekly or daily file (docs/user_data.md)."""
        from .cli_forecast import user_file_panels

        panels, rejected = user_file_panels(weekly_file, market)
        if not panels:
            reasons = "; ".join(rejected.values()) or "it holds no film"
            raise CineSeqError(f"{Path(weekly_file).name}: no film can be forecast: {reasons}")
        return forecast_panel(panels[0], self.models.current(), None)


@dataclass
class Explanation:
    """Why the model forecast what it did for one window."""

    contributions: pd.DataFrame  # block, feature, attribution (summed over weeks, mean over horizons), per horizon too
    converged: bool  # Captum's completeness check passed for every horizon
    attention: np.ndarray | None  # [H, L] weights of the attention model
    attention_source: str  # which model the attention comes from (or why there is none)


def explain_forecast(forecast: FilmForecast, attention_model: TrainedModel | None = None,
                     n_steps: int = 64) -> Explanation:
    """Integrated Gradients of the shown forecast (per feature) and the attention weights.

    When the serving model has no attention, ``attention_model`` (the attention network trained
    beside it) provides the heatmap for the same window, and the explanation says so.
    """
    from .attributions import attribution_table, integrated_gradients

    model = forecast.model.model
    attributions = integrated_gradients(model, forecast.window, n_steps=n_steps)
    long = attribution_table(attributions)
    per_horizon = long.groupby(["block", "feature", "horizon"], sort=False)["attribution"].sum().unstack("horizon")
    per_horizon.columns = [f"h{h}" for h in per_horizon.columns]
    contributions = per_horizon.assign(attribution=per_horizon.mean(axis=1)).reset_index()
    attention, source = forecast.attention, f"{model.architecture} (serving)"
    if attention is None and attention_model is not None:
        window = forecast.window.with_prior(attention_model.pooled, attention_model.train_config.prior)
        attention, source = attention_model.predict(window)[1][0], f"{attention_model.architecture} (not serving)"
    elif attention is None:
        source = "none: the serving model has no attention and no attention model is stored"
    return Explanation(contributions, bool(attributions.converged.all()), attention, source)


def forecast_panel(panel: pd.DataFrame, served: ServedModel, origin_week: int | None = None,
                   windows: Windows | None = None, history: pd.DataFrame | None = None) -> FilmForecast:
    """Forecast one film's panel rows from ``origin_week`` (None or 0: the latest week) with ``served``.

    ``windows`` (the film's windows from every origin, ``build_windows(panel, min_targets=0)``) and
    ``history`` (its HISTORY_COLUMNS by week) may be given when the caller has them already.
    """
    started = time.perf_counter()
    model = served.model
    config = model.train_config
    if windows is None:
        windows = build_windows(panel, config.encoder_length, min_targets=0)
    windows = windows.with_prior(model.pooled, config.prior)
    last_week = int(windows.origin.max())
    origin = last_week if not origin_week else int(origin_week)
    if not 1 <= origin <= last_week:
        raise ValueError(f"origin week {origin} is outside this film's run: choose 1 to {last_week} "
                         f"(0 = the latest week, {last_week})")
    model_started = time.perf_counter()
    quantiles, attention = served.runner.predict(windows)
    model_ms = 1000 * (time.perf_counter() - model_started)
    # numpy rather than a pandas frame of every origin: this runs on every request
    dollars = np.expm1(quantiles.astype(float))  # [N, H, 3]
    actual = np.where(windows.target_mask > 0, np.expm1(windows.target.astype(float)), np.nan)  # [N, H]
    row = int(np.flatnonzero(windows.origin == origin)[0])
    steps = np.arange(1, dollars.shape[1] + 1)
    table = pd.DataFrame({  # in FORECAST_TABLE_COLUMNS order
        "week": origin + steps,
        "week_start": pd.Timestamp(windows.origin_week_start[row]) + pd.to_timedelta(7 * steps, unit="D"),
        "p10": dollars[row, :, 0], "p50": dollars[row, :, 1], "p90": dollars[row, :, 2],
        "decay_baseline": np.expm1(windows.prior[row].astype(float)), "actual": actual[row],
    })
    if history is None:
        history = panel.sort_values("week")[HISTORY_COLUMNS].reset_index(drop=True)
    return FilmForecast(
        film_id=str(panel["film_id"].iloc[0]), title=str(panel["title"].iloc[0]), origin_week=origin,
        last_week=last_week, history=history, table=table, errors=film_errors(dollars, actual),
        window=windows.subset([row]), attention=None if attention is None else attention[row], model=served,
        timing_ms={"model": model_ms, "forecast": 1000 * (time.perf_counter() - started)})


def film_errors(dollars: np.ndarray, actual: np.ndarray) -> pd.DataFrame:
    """MAE and WAPE of a film's backtest per horizon (and overall) over the origins whose weeks are known.

    ``dollars`` [N, H, 3] are the p10/p50/p90 of every origin, ``actual`` [N, H] the gross (NaN: unknown).
    """
    rows = []
    horizons = [(str(h + 1), np.s_[:, h]) for h in range(actual.shape[1])] + [("all", np.s_[:, :])]
    for name, columns in horizons:
        truth, known = actual[columns], ~np.isnan(actual[columns])
        if known.any():
            truth, p10, p50, p90 = truth[known], *(dollars[..., q][columns][known] for q in range(3))
            error, total = np.abs(p50 - truth), np.abs(truth).sum()
            rows.append({"horizon": name, "forecasts": int(known.sum()), "mae": error.mean(),
                         "wape": error.sum() / total if total else np.nan,
                         "inside_p10_p90": ((truth >= p10) & (truth <= p90)).mean()})
    return pd.DataFrame(rows, columns=["horizon", "forecasts", "mae", "wape", "inside_p10_p90"])


def _ids_by_name(catalog: pd.DataFrame, column: str) -> dict[str, list[str]]:
    """Case-folded title (or label) -> the film ids that carry it."""
    names: dict[str, list[str]] = {}
    for name, film_id in zip(catalog[column].astype(str), catalog["film_id"].astype(str)):
        names.setdefault(name.casefold(), []).append(film_id)
    return names


def _catalog(panel: pd.DataFrame, storage_dir: Path) -> pd.DataFrame:
    films = panel.groupby("film_id", sort=False).agg(title=("title", "first"), release_date=("release_date", "first"),
                                                     weeks=("week", "max")).reset_index()
    films["year"] = pd.to_datetime(films["release_date"]).dt.year
    films["label"] = films["title"].astype(str) + " (" + films["year"].astype(str) + ")"
    showcase = set()
    catalog_path = asset_path("film_catalog", root=storage_dir)
    if catalog_path.exists():
        catalog = pd.read_parquet(catalog_path, columns=["film_id", "showcase"])
        showcase = set(catalog.loc[catalog["showcase"].astype(bool), "film_id"].astype(str))
    films["showcase"] = films["film_id"].astype(str).isin(showcase)
    films = films.sort_values(["showcase", "title"], ascending=[False, True], ignore_index=True)
    return films[["film_id", "title", "year", "label", "showcase", "weeks"]]



def write_weekly_file(weeks: pd.DataFrame, path: Path, *, release_date: str, title: str = "",
                      genres: list[str] | None = None, budget: float | None = None, mpaa: str | None = None) -> Path:
    """A one-film weekly file (docs/user_data.md) from a table of week, gross[, theaters] rows.

    Rows without a gross are dropped (a form's empty rows); the loader validates the rest and
    names the row and column of anything wrong.
    """
    table = pd.DataFrame(weeks).copy()
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = {"week", "gross"} - set(table.columns)
    if missing:
        raise CineSeqError(f"the weeks table needs the columns week and gross (and, better, theaters); "
                           f"missing: {', '.join(sorted(missing))}")
    table = table[table["gross"].astype(str).str.strip().ne("") & table["gross"].notna()]
    if table.empty:
        raise CineSeqError("the weeks table has no gross: enter at least the opening week's gross")
    film = {"film_id": "new-film", "title": title.strip() or "New film", "release_date": release_date,
            "genres": "|".join(genres or []), "budget": budget, "mpaa": mpaa or ""}
    for column, value in film.items():
        table[column] = value
    table.to_csv(path, index=False)
    return Path(path)


def evaluation_table(errors: pd.DataFrame, split_kind: str = "by_film") -> pd.DataFrame:
    """One row per model: test WAPE (mean and std over seeds), WAPE per horizon, MAE, RMSE, coverage."""
    rows = errors[errors["split_kind"] == split_kind]
    overall = rows[rows["grouping"] == "overall"].groupby("model")
    table = overall[["wape", "mae", "rmse", "coverage_80"]].mean()
    table.insert(1, "wape_std", overall["wape"].std())
    by_horizon = rows[rows["grouping"] == "horizon"].groupby(["model", "group"])["wape"].mean().unstack("group")
    by_horizon.columns = [f"wape_h{h}" for h in by_horizon.columns]
    table = table.join(by_horizon).join(overall["seed"].nunique().rename("seeds"))
    return table.sort_values("wape").reset_index()


def stored_evaluation(storage_dir: Path) -> pd.DataFrame | None:
    """The materialized forecast_evaluation errors table, or None when it was never materialized."""
    path = asset_path("forecast_evaluation", root=Path(storage_dir))
    return pd.read_parquet(path) if path.exists() else None


def diagnostic_images(storage_dir: Path) -> list[tuple[Path, str]]:
    """(PNG, caption) of the stored decay diagnostics and evaluation plots, in a stable order."""
    storage_dir = Path(storage_dir)
    folders = {"decay_diagnostics": "decay", "forecast_evaluation": "evaluation", "attributions": "attributions"}
    images = []
    for folder, prefix in folders.items():
        for png in sorted((storage_dir / folder).glob("*.png")):
            images.append((png, f"{prefix}: {png.stem.replace('_', ' ')}"))
    return images


def stored_models(storage_dir: Path) -> pd.DataFrame:
    """One row per stored forecaster: validation WAPE, epochs, training time, and which one serves."""
    folder = model_dir(Path(storage_dir))
    serving_file = folder / "serving.json"
    serving = json.loads(serving_file.read_text()).get("architecture") if serving_file.exists() else None
    rows = []
    for path in sorted(folder.glob("*.parquet")):
        try:
            metrics = read_metadata(path)[1]
        except (OSError, ValueError, KeyError):
            continue  # not a model file: the page lists only what it can read
        rows.append({"model": path.stem, "serving": path.stem == serving,
                     "validation_wape": metrics.get("validation_wape"), "best_epoch": metrics.get("best_epoch"),
                     "epochs": metrics.get("epochs"), "training_seconds": metrics.get("seconds"),
                     "written": datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")})
    return pd.DataFrame(rows)
