"""Forecast assets: windows, trained models, per-film forecasts, the evaluation, attributions.

Thin wrappers: the work is in the Dagster-free modules of this package.
"""

import time
from dataclasses import replace
from typing import ClassVar

import dagster as dg
import numpy as np
import pandas as pd

from ..dask_engine import failure_listing, fan_out
from ..io_manager import StoredFilms, image_metadata, stored_films, svg_metadata
from ..partitions import film_backfill_policy, films_of, films_partitions, materialize_films
from ..plotting import to_png
from ..resources import ArtifactStore, DaskResource
from ..run_config import RunConfig
from . import plots
from .evaluate import EvaluationConfig, evaluate, headline
from .final_total import final_totals, fit_final_total
from .models import ARCHITECTURES
from .predict import FilmForecastTask
from .prepared import load_prepared, save_prepared
from .splits import SERVED_SPLIT, SplitConfig
from .store import latest_model_path, load_model, model_folder, save_model
from .train import TrainConfig, TrainedModel, choose_serving, fit_forecaster, prepare, served_validation_wape
from .windows import Windows, trailer_table

GROUP = "forecast"
FORECAST_FILMS_PER_TASK = 100  # one forward pass per 100 films: ~0.7 s a task, small beside the run's 1,000 films
ATTRIBUTION_FILMS_PER_TASK = 250  # Integrated Gradients of 250 live windows: a few seconds a task
# The per-film trailer inputs are optional: films without them (most, until trailers are configured)
# are masked, so the forecaster trains and forecasts whether or not they were materialized.
TRAILER_INPUTS = ("trailer_emotion", "frame_predictions")


def _every_film_trailer_input() -> dict[str, dg.AssetIn]:
    return {name: stored_films(name, every_film=True) for name in TRAILER_INPUTS}


class ForecastTrainingConfig(RunConfig):
    """Overrides of forecast.train.TrainConfig (its defaults are the evaluated ones), shared by
    training_windows (the split, encoder_length) and forecast_model (the rest)."""

    RUN_INPUTS: ClassVar[dict[str, str]] = {
        "architectures": "which networks to train: one TrainConfig.architecture each (default: every one)",
        "split_kind": "SplitConfig.kind of the film split (default: SplitConfig's)",
        "train_on_test": "SplitConfig.train_on_test: the served model trains on the test films too (default: SERVED_SPLIT's)",
    }

    architectures: list[str] | None = None
    split_kind: str | None = None
    encoder_length: int | None = None
    hidden: int | None = None
    epochs: int | None = None
    max_seconds: float | None = None
    gross_weight: float | None = None
    decay_residual: bool | None = None
    boosting: bool | None = None
    market_dropout: float | None = None  # 0.5: let the forecaster read a whole market context (features.MARKET_DROPOUT)
    train_on_test: bool | None = None
    seed: int | None = None

    def train_config(self, architecture: str | None = None) -> TrainConfig:
        return self.build(TrainConfig(), **({"architecture": architecture} if architecture else {}))

    def split_config(self) -> SplitConfig:
        """The served model's split: SERVED_SPLIT (the test films train it too) unless
        ``train_on_test`` is false (forecast_evaluation scores the test films with them held out)."""
        split = replace(SERVED_SPLIT, kind=self.split_kind) if self.split_kind else SERVED_SPLIT
        return split if self.train_on_test is None else replace(split, train_on_test=self.train_on_test)

    def architecture_names(self) -> list[str]:
        return list(self.architectures or ARCHITECTURES)


@dg.asset(group_name=GROUP, ins={"panel": dg.AssetIn("panel"), **_every_film_trailer_input()}, kinds={"parquet"})
def training_windows(context: dg.AssetExecutionContext, config: ForecastTrainingConfig, panel: pd.DataFrame,
                     trailer_emotion: pd.DataFrame, frame_predictions: pd.DataFrame,
                     artifacts: ArtifactStore) -> dg.Output[pd.DataFrame]:
    """The forecast windows of every film (origin week t, 4 target weeks), the film split, and the
    decay prior computed from each window's encoder weeks with the training films' pooled retention.
    The prepared windows are stored beside the table for forecast_model (built once per run)."""
    train_config = config.train_config()
    data = prepare(panel, train_config, config.split_config(), trailer_table(trailer_emotion, frame_predictions))
    save_prepared(data, train_config, artifacts.folder("training_windows"))
    table = pd.concat([_window_table(windows, name) for name, windows in
                       (("train", data.train), ("validation", data.validation), ("test", data.test))], ignore_index=True)
    films = data.split.value_counts().to_dict()
    context.log.info(f"{len(table)} windows; films per split: {films}")
    return dg.Output(table, metadata={
        "windows_per_split": dg.MetadataValue.json(table["split"].value_counts().to_dict()),
        "films_per_split": dg.MetadataValue.json(films),
        "split_kind": config.split_config().kind,
        "plot_pooled_retention": image_metadata("pooled retention", plots.pooled_retention(data.pooled.table)),
    })


def _window_table(windows: Windows, split: str) -> pd.DataFrame:
    """One row per window: keys, how many weeks the encoder saw, the prior and the actuals (dollars)."""
    table = pd.DataFrame({"film_id": windows.film_id.astype(str), "split": split, "origin_week": windows.origin,
                          "encoder_weeks": windows.encoder_mask.sum(axis=1).astype(int),
                          "release_width": ["wide" if w else "limited" for w in windows.wide]})
    for h in range(windows.target.shape[1]):
        table[f"prior_h{h + 1}"] = np.expm1(windows.prior[:, h])
        table[f"actual_h{h + 1}"] = np.where(windows.target_mask[:, h] > 0, np.expm1(windows.target[:, h]), np.nan)
    return table


@dg.asset(group_name=GROUP, deps=[training_windows], kinds={"pytorch", "onnx", "parquet"},
          ins={"panel": dg.AssetIn("panel"), "film_catalog": dg.AssetIn("film_catalog")})
def forecast_model(context: dg.AssetExecutionContext, config: ForecastTrainingConfig, panel: pd.DataFrame,
                   film_catalog: pd.DataFrame, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """The Seq2Seq forecasters (LSTM encoder, GRU decoder; with and without attention) trained on the
    training films and early-stopped on the validation films, each with a gradient-boosted model blended
    in (forecast.boosting; its weight chosen on validation films) and the band conformally calibrated
    on them. Stored as Parquet weights + ONNX + the booster's LightGBM text model; the one with the
    lower validation WAPE serves the demo and the CLI.
    Each is stored with its final-total model (multipliers of training films; the tail and the band's
    widening chosen on validation films: forecast.final_total)."""
    from .onnx_export import export_onnx

    data = load_prepared(artifacts.folder("training_windows"), config.train_config())
    folder = model_folder(artifacts.root).path
    totals = final_totals(panel, film_catalog)
    trained_models, metrics, finals, booster = {}, {}, {}, None
    for architecture in config.architecture_names():
        train_config = config.train_config(architecture)
        started = time.perf_counter()
        trained = fit_forecaster(data, train_config, progress=lambda h, a=architecture: context.log.debug(f"{a}: {h}"),
                                 booster=booster)
        booster = trained.booster  # the next architecture blends the same one (same films, seed and dropout)
        metrics[architecture] = _training_metrics(trained, time.perf_counter() - started)
        context.log.info(f"{architecture}: validation WAPE {metrics[architecture]['validation_wape']:.3f} (network alone "
                         f"{metrics[architecture]['network_validation_wape']:.3f} after {len(trained.history)} epochs, "
                         f"booster weight {trained.blend_weight:g}), {metrics[architecture]['seconds']:.0f} s")
        trained_models[architecture] = trained
        finals[architecture] = fit_final_total(trained, panel, data.split, totals)[0]
        metrics[architecture]["final_total_validation_wape"] = finals[architecture].validation
        context.log.info(f"{architecture}: final-total tail {finals[architecture].tail} (validation WAPE "
                         f"{finals[architecture].validation[finals[architecture].tail]:.3f})")
    # Every model is complete before any file is replaced: a failed run leaves the old models serving.
    for architecture, trained in trained_models.items():
        save_model(trained, folder / f"{architecture}.parquet", metrics[architecture], finals[architecture])
        export_onnx(trained, folder / f"{architecture}.onnx")
    serving = choose_serving(trained_models)
    model_folder(artifacts.root).publish(serving, chosen_by="validation WAPE", metrics=metrics)
    curves = plots.learning_curves({a: t.history for a, t in trained_models.items()})
    return dg.MaterializeResult(metadata={
        "serving": serving,
        "validation_wape": dg.MetadataValue.json({a: m["validation_wape"] for a, m in metrics.items()}),
        "metrics": dg.MetadataValue.json(metrics),
        "folder": dg.MetadataValue.path(str(folder)),
        "plot_learning_curves": image_metadata("learning curves", curves),
    })


def _training_metrics(trained: TrainedModel, seconds: float) -> dict:
    """What forecast_model records of one trained forecaster; validation_wape is the served (blended) one."""
    best = min(trained.history, key=lambda h: h["validation_wape"])
    return {"validation_wape": served_validation_wape(trained), "network_validation_wape": best["validation_wape"],
            "booster_weight": trained.blend_weight, "best_epoch": best["epoch"], "epochs": len(trained.history),
            "seconds": seconds, "network_seconds": trained.seconds, "conformal_widening": trained.conformal,
            "recent_widening": None if trained.recent is None else trained.recent.latest()}


@dg.asset(
    group_name=GROUP,
    partitions_def=films_partitions,
    backfill_policy=film_backfill_policy,
    ins={"weekly_panel": stored_films("weekly_panel"), **{name: stored_films(name) for name in TRAILER_INPUTS}},
    deps=[forecast_model],
    kinds={"parquet", "pytorch"},
)
def forecasts(context: dg.AssetExecutionContext, weekly_panel: pd.DataFrame, trailer_emotion: pd.DataFrame,
              frame_predictions: pd.DataFrame, artifacts: ArtifactStore, dask: DaskResource) -> dg.Output[StoredFilms]:
    """The film's forecast for the 4 weeks after its last observed week (kind "live"), and the
    backtest from every earlier origin (kind "backtest"), p10/p50/p90 in dollars, from the serving model.
    With a model stored with its final-total model, each row also carries the final domestic total from
    its origin week (gross_to_date, final_p10/p50/p90, multiplier_baseline: forecast.final_total)."""
    weights = latest_model_path(artifacts.root)  # read serving.json once: every worker loads this model
    model, _ = load_model(weights)  # here too: a model that cannot be read fails the run at once, naming its file
    started = time.perf_counter()
    task = FilmForecastTask(str(weights), weekly_panel, trailer_table(trailer_emotion, frame_predictions))
    stored = materialize_films(context, task, dask, batch_size=FORECAST_FILMS_PER_TASK)
    films = len(stored.paths)
    metadata = {"films": films, "model": model.architecture,
                "ms_per_film": 1000 * (time.perf_counter() - started) / max(films, 1)}
    table = stored.table
    histories = films_of(weekly_panel, "weekly_panel")
    for film, live in table[table["kind"] == "live"].groupby("film_id", sort=False):
        context.add_asset_metadata(_film_forecast_metadata(str(film), live, histories(film)), partition_key=str(film))
    return dg.Output(stored, metadata=metadata)


def _film_forecast_metadata(film: str, live: pd.DataFrame, history: pd.DataFrame) -> dict:
    """What one film's partition shows in the UI: its fan chart, the live forecast and the final total."""
    origin = int(live["origin_week"].iloc[0])
    chart = plots.fan_chart_svg(history, live, origin, str(history["title"].iloc[0]))
    table = live[["week", "p10", "p50", "p90"]].to_markdown(index=False, floatfmt=",.0f")
    metadata = {"plot_forecast": svg_metadata(film, chart), "live_forecast": dg.MetadataValue.md(table)}
    if "final_p50" in live and live["final_p50"].notna().any():
        row = live.iloc[0]
        metadata["final_total"] = (f"${row['final_p50']:,.0f} (p10 ${row['final_p10']:,.0f} - p90 "
                                   f"${row['final_p90']:,.0f}), multiplier baseline ${row['multiplier_baseline']:,.0f}")
    return metadata


class ForecastEvaluationConfig(RunConfig):
    """Overrides of forecast.evaluate.EvaluationConfig (seeds, split kinds, networks) and of its
    TrainConfig (epochs, max_seconds, gross_weight). The default is seed 0 of the by-film split, what
    serves, the networks alone and the baselines (about 3 minutes on 2 cores); ``seeds: [0, 1, 2]``,
    ``split_kinds: [by_film, out_of_time]`` and every network of evaluate.FULL_NETWORKS ask for the whole
    protocol of docs/forecasting.md (about half an hour)."""

    seeds: list[int] | None = None
    split_kinds: list[str] | None = None
    networks: list[str] | None = None
    epochs: int | None = None
    max_seconds: float | None = None
    gross_weight: float | None = None

    def evaluation_config(self) -> EvaluationConfig:
        default = EvaluationConfig()
        return self.build(default, train=self.build(default.train))


@dg.asset(group_name=GROUP, ins={"panel": dg.AssetIn("panel"), **_every_film_trailer_input()}, kinds={"parquet", "pytorch"})
def forecast_evaluation(context: dg.AssetExecutionContext, config: ForecastEvaluationConfig, panel: pd.DataFrame,
                        trailer_emotion: pd.DataFrame, frame_predictions: pd.DataFrame,
                        artifacts: ArtifactStore) -> dg.Output[pd.DataFrame]:
    """MAE, RMSE, WAPE (dollars) and 80%-interval coverage on test films of every network and baseline,
    per seed and split (by film; out of time), overall and per horizon, origin week, release width and film."""
    evaluation = config.evaluation_config()
    result = evaluate(panel, evaluation, progress=context.log.info, trailers=trailer_table(trailer_emotion, frame_predictions))
    artifacts.write_table(result.forecasts, "forecast_evaluation", "test_forecasts.parquet")
    artifacts.write_table(result.runs, "forecast_evaluation", "training_runs.parquet")
    metadata = {"headline": dg.MetadataValue.json(headline(result, evaluation.split_kinds[0])),
                "runs": dg.MetadataValue.md(result.runs.to_markdown(index=False, floatfmt=".3f"))}
    for kind in evaluation.split_kinds:
        summary = result.summary(kind)
        metadata[f"overall_{kind}"] = dg.MetadataValue.md(summary.to_markdown(index=False, floatfmt=".3f"))
        png = plots.wape_by_horizon(result.errors, kind)
        artifacts.write_bytes(png, "forecast_evaluation", f"wape_by_horizon_{kind}.png")
        metadata[f"plot_wape_by_horizon_{kind}"] = image_metadata(f"WAPE by horizon ({kind})", png)
    return dg.Output(result.errors, metadata=metadata)


@dg.asset(group_name=GROUP, ins={"panel": dg.AssetIn("panel"), **_every_film_trailer_input()}, deps=[forecast_model],
          kinds={"parquet", "pytorch"})
def attributions(context: dg.AssetExecutionContext, panel: pd.DataFrame, trailer_emotion: pd.DataFrame,
                 frame_predictions: pd.DataFrame, artifacts: ArtifactStore, dask: DaskResource) -> dg.Output[pd.DataFrame]:
    """Integrated Gradients (Captum) of every film's live p50 forecast per feature, encoder week and
    horizon, against a mean-film baseline; the global importance table and plot; attention weights.
    Batches of films are attributed on the Dask workers."""
    from .attributions import AttributionTask, importance_figure, merge_explained

    weights = latest_model_path(artifacts.root)
    model, _ = load_model(weights)  # here too: a model that cannot be read fails at once, naming its file
    task = AttributionTask(str(weights), panel, trailer_table(trailer_emotion, frame_predictions))
    films = list(panel["film_id"].unique())
    parts: dict[str, tuple] = {}
    with dask.client(context.log.info) as client:
        failed = fan_out(client, task, films, label="attributions", batch_size=ATTRIBUTION_FILMS_PER_TASK,
                         retries=dask.retries, report=context.log.info, on_result=parts.__setitem__)
    if failed:
        raise dg.Failure(f"{len(failed)} of {len(films)} films could not be attributed; nothing was written.\n"
                         f"{failure_listing(failed)}")
    explained = merge_explained([parts[film] for film in films])
    folder = artifacts.folder("attributions")
    artifacts.write_table(explained["importance"], "attributions", "global_importance.parquet")
    artifacts.write_table(explained["attention"], "attributions", "attention_weights.parquet")
    png = to_png(importance_figure(explained["importance"]))
    artifacts.write_bytes(png, "attributions", "global_importance.png")
    table = explained["attributions"]
    converged = float(table.drop_duplicates(["film_id", "origin_week", "horizon"])["converged"].mean())
    top = explained["importance"].head(15)
    context.log.info(f"{table['film_id'].nunique()} films attributed with {model.architecture}; "
                     f"{converged:.1%} of window-horizons converged")
    return dg.Output(table, metadata={
        "model": model.architecture,
        "films": int(table["film_id"].nunique()),
        "share_converged": converged,
        "top_features": dg.MetadataValue.md(top.to_markdown(index=False, floatfmt=".4f")),
        "plot_global_importance": image_metadata("global importance", png),
        "folder": dg.MetadataValue.path(str(folder)),
    })
