"""Forecast assets: windows, trained models, per-film forecasts, the evaluation, attributions.

Thin wrappers: the work is in the Dagster-free modules of this package.
"""

import time

import dagster as dg
import numpy as np
import pandas as pd

from ..boxoffice.assets import panel as panel_asset
from ..boxoffice.assets import weekly_panel
from ..errors import FilmDataError
from ..frames.assets import frame_predictions
from ..io_manager import image_metadata
from ..partitions import film_backfill_policy, films_partitions, materialize_films
from ..plotting import to_png
from ..settings import storage_dir
from ..storage import asset_path, read_asset, read_partitions, stored_partitions, write_bytes_atomic, write_parquet_atomic
from ..trailers.assets import trailer_emotion
from . import plots
from .evaluate import NETWORKS, EvaluationConfig, evaluate, headline
from .predict import film_forecasts
from .splits import SplitConfig
from .store import load_latest, model_dir, model_folder, save_model
from .train import TrainConfig, calibrate_conformal, prepare, train_model
from .windows import Windows

GROUP = "forecast"


class ForecastTrainingConfig(dg.Config):
    """Training settings (see forecast.train.TrainConfig); the defaults are the evaluated ones."""

    architectures: list[str] = ["seq2seq", "seq2seq_attention"]
    split_kind: str = "by_film"
    encoder_length: int = 8
    hidden: int = 64
    epochs: int = 60
    max_seconds: float = 100.0
    gross_weight: float = 0.5
    decay_residual: bool = True
    seed: int = 0

    def train_config(self, architecture: str = "seq2seq_attention") -> TrainConfig:
        return TrainConfig(architecture=architecture, encoder_length=self.encoder_length, hidden=self.hidden,
                           epochs=self.epochs, max_seconds=self.max_seconds, gross_weight=self.gross_weight,
                           decay_residual=self.decay_residual, seed=self.seed)



def _trailers() -> pd.DataFrame | None:
    """Per-film trailer inputs: the stored emotion embeddings and frame predictions, one row per film
    (films never analysed simply have no row; a film with only one of the two gets NaN for the other)."""
    tables = [read_partitions(asset).drop_duplicates("film_id") for asset in ("trailer_emotion", "frame_predictions")
              if stored_partitions(asset)]
    if not tables:
        return None
    merged = tables[0]
    for table in tables[1:]:
        merged = merged.merge(table, on="film_id", how="outer")
    return merged


# The trailer inputs are optional: films without them (most, until trailers are configured) are
# masked, so the forecaster trains whether or not they were materialized.
@dg.asset(group_name=GROUP, deps=[panel_asset, trailer_emotion, frame_predictions], kinds={"parquet"})
def training_windows(context: dg.AssetExecutionContext, config: ForecastTrainingConfig) -> dg.Output[pd.DataFrame]:
    """The forecast windows of every film (origin week t, 4 target weeks), the film split, and the
    decay prior computed from each window's encoder weeks with the training films' pooled retention."""
    panel = read_asset("panel")
    data = prepare(panel, config.train_config(), SplitConfig(kind=config.split_kind), _trailers())
    table = pd.concat([_window_table(windows, name) for name, windows in
                       (("train", data.train), ("validation", data.validation), ("test", data.test))], ignore_index=True)
    films = data.split.value_counts().to_dict()
    context.log.info(f"{len(table)} windows; films per split: {films}")
    return dg.Output(table, metadata={
        "windows_per_split": dg.MetadataValue.json(table["split"].value_counts().to_dict()),
        "films_per_split": dg.MetadataValue.json(films),
        "split_kind": config.split_kind,
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


@dg.asset(group_name=GROUP, deps=[training_windows], kinds={"pytorch", "onnx", "parquet"})
def forecast_model(context: dg.AssetExecutionContext, config: ForecastTrainingConfig) -> dg.MaterializeResult:
    """The Seq2Seq forecasters (LSTM encoder, GRU decoder; with and without attention) trained on the
    training films, early-stopped and conformally calibrated on the validation films. Stored as
    Parquet weights + ONNX; the one with the lower validation WAPE serves the demo and the CLI."""
    from .onnx_export import export_onnx

    panel = read_asset("panel")
    split = read_asset("training_windows").drop_duplicates("film_id").set_index("film_id")["split"]
    data = prepare(panel, config.train_config(), trailers=_trailers(), films=split)
    folder = model_dir(storage_dir())
    trained_models, metrics = {}, {}
    for architecture in config.architectures:
        train_config = config.train_config(architecture)
        trained = train_model(data, train_config, progress=lambda h, a=architecture: context.log.debug(f"{a}: {h}"))
        calibrate_conformal(trained, data.validation)
        best = min(trained.history, key=lambda h: h["validation_wape"])
        metrics[architecture] = {"validation_wape": best["validation_wape"], "best_epoch": best["epoch"],
                                 "epochs": len(trained.history), "seconds": trained.seconds,
                                 "conformal_widening": trained.conformal}
        context.log.info(f"{architecture}: validation WAPE {best['validation_wape']:.3f} after {len(trained.history)} epochs, "
                         f"{trained.seconds:.0f} s")
        trained_models[architecture] = trained
    # Every model is complete before any file is replaced: a failed run leaves the old models serving.
    for architecture, trained in trained_models.items():
        save_model(trained, folder / f"{architecture}.parquet", metrics[architecture])
        export_onnx(trained, folder / f"{architecture}.onnx")
    serving = min(metrics, key=lambda a: metrics[a]["validation_wape"])
    model_folder(storage_dir()).publish(serving, chosen_by="validation WAPE", metrics=metrics)
    curves = plots.learning_curves({a: t.history for a, t in trained_models.items()})
    return dg.MaterializeResult(metadata={
        "serving": serving,
        "validation_wape": dg.MetadataValue.json({a: m["validation_wape"] for a, m in metrics.items()}),
        "metrics": dg.MetadataValue.json(metrics),
        "folder": dg.MetadataValue.path(str(folder)),
        "plot_learning_curves": image_metadata("learning curves", curves),
    })


@dg.asset(
    group_name=GROUP,
    partitions_def=films_partitions,
    backfill_policy=film_backfill_policy,
    deps=[weekly_panel, forecast_model],
    kinds={"parquet", "pytorch"},
)
def forecasts(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
    """The film's forecast for the 4 weeks after its last observed week (kind "live"), and the
    backtest from every earlier origin (kind "backtest"), p10/p50/p90 in dollars, from the serving model."""
    model, _ = load_latest(storage_dir())
    started = time.perf_counter()
    # One batch for every film of the run (windows, one forward pass), then handed out per film
    # so that a film without a stored panel fails alone.
    panel = read_partitions("weekly_panel", list(context.partition_keys))
    batch = film_forecasts(model, panel, _trailers()) if len(panel) else pd.DataFrame()
    by_film = dict(tuple(batch.groupby("film_id", sort=False))) if len(batch) else {}

    def compute(film_id: str) -> pd.DataFrame:
        if film_id not in by_film:
            raise FilmDataError(film_id, "has no stored weekly_panel partition",
                                fix="Materialize weekly_panel for this film first.")
        return by_film[film_id].reset_index(drop=True)

    table = materialize_films(context, compute)
    films = table["film_id"].nunique()
    metadata = {"films": films, "model": model.architecture,
                "ms_per_film": 1000 * (time.perf_counter() - started) / max(films, 1)}
    if films == 1:
        film = table["film_id"].iloc[0]
        history = read_asset("weekly_panel", film)
        live = table[table["kind"] == "live"]
        chart = plots.forecast_chart(history, live, int(live["origin_week"].iloc[0]), str(history["title"].iloc[0]))
        metadata["plot_forecast"] = image_metadata(film, to_png(chart))
        metadata["live_forecast"] = dg.MetadataValue.md(
            live[["week", "p10", "p50", "p90"]].to_markdown(index=False, floatfmt=",.0f"))
    return dg.Output(table, metadata=metadata)


class ForecastEvaluationConfig(dg.Config):
    """The evaluation's seeds, splits and models (see forecast.evaluate)."""

    seeds: list[int] = [0, 1, 2]
    split_kinds: list[str] = ["by_film", "out_of_time"]
    networks: list[str] = list(NETWORKS)
    epochs: int = 60
    max_seconds: float = 100.0
    gross_weight: float = 0.5


@dg.asset(group_name=GROUP, deps=[panel_asset], kinds={"parquet", "pytorch"})
def forecast_evaluation(context: dg.AssetExecutionContext, config: ForecastEvaluationConfig) -> dg.Output[pd.DataFrame]:
    """MAE, RMSE, WAPE (dollars) and 80%-interval coverage on test films of every network and baseline,
    per seed and split (by film; out of time), overall and per horizon, origin week, release width and film."""
    panel = read_asset("panel")
    train = TrainConfig(epochs=config.epochs, max_seconds=config.max_seconds, gross_weight=config.gross_weight)
    evaluation = EvaluationConfig(seeds=tuple(config.seeds), split_kinds=tuple(config.split_kinds),
                                  networks=tuple(config.networks), train=train)
    result = evaluate(panel, evaluation, progress=context.log.info, trailers=_trailers())
    folder = asset_path("forecast_evaluation").with_suffix("")
    write_parquet_atomic(result.forecasts, folder / "test_forecasts.parquet")
    write_parquet_atomic(result.runs, folder / "training_runs.parquet")
    metadata = {"headline": dg.MetadataValue.json(headline(result, config.split_kinds[0])),
                "runs": dg.MetadataValue.md(result.runs.to_markdown(index=False, floatfmt=".3f"))}
    for kind in config.split_kinds:
        summary = result.summary(kind)
        metadata[f"overall_{kind}"] = dg.MetadataValue.md(summary.to_markdown(index=False, floatfmt=".3f"))
        png = plots.wape_by_horizon(result.errors, kind)
        write_bytes_atomic(png, folder / f"wape_by_horizon_{kind}.png")
        metadata[f"plot_wape_by_horizon_{kind}"] = image_metadata(f"WAPE by horizon ({kind})", png)
    return dg.Output(result.errors, metadata=metadata)


@dg.asset(group_name=GROUP, deps=[forecast_model, panel_asset], kinds={"parquet", "pytorch"})
def attributions(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
    """Integrated Gradients (Captum) of every film's live p50 forecast per feature, encoder week and
    horizon, against a mean-film baseline; the global importance table and plot; attention weights."""
    from .attributions import explain, importance_figure

    model, _ = load_latest(storage_dir())
    explained = explain(model, read_asset("panel"), _trailers())
    folder = asset_path("attributions").with_suffix("")
    write_parquet_atomic(explained["importance"], folder / "global_importance.parquet")
    write_parquet_atomic(explained["attention"], folder / "attention_weights.parquet")
    png = to_png(importance_figure(explained["importance"]))
    write_bytes_atomic(png, folder / "global_importance.png")
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
