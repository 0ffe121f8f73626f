"""Train and evaluate every forecaster and baseline on the default catalog; print one table.

    python benchmarks/forecast.py [--seeds 0,1,2] [--split by_film|out_of_time] [--without-market] [--out DIR]

For each seed: the networks are trained on the training films, early-stopped and calibrated on
the validation films and scored once on the test films (origins 2-8, horizons 1-4, dollars).
Prints WAPE / MAE / RMSE overall and WAPE per horizon (mean +- std over seeds), the 80%
interval's coverage, training seconds per model per seed, and inference time per film with
PyTorch and onnxruntime. Targets on 2 cores: training <= 120 s per model per seed, inference
<= 2 ms per film, Seq2Seq + attention >= 40% below pooled decay and below LightGBM.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cineseq_assets.forecast.evaluate import NETWORKS, WITHOUT_MARKET, EvaluationConfig, evaluate, headline  # noqa: E402
from cineseq_assets.forecast.train import TrainConfig, prepare, train_model  # noqa: E402


def default_panel() -> pd.DataFrame:
    """The panel of every default catalog film, built from the bundled data (no Dagster)."""
    from cineseq_assets.boxoffice.bundled import bundled_trends, load_bundled
    from cineseq_assets.boxoffice.catalog import catalog_table
    from cineseq_assets.boxoffice.features import MarketCalendar
    from cineseq_assets.boxoffice.panel import film_panel, pooled_panel

    data = load_bundled()
    market, trends = MarketCalendar(data.market), bundled_trends()
    frames = [film_panel(data, film_id, market, trends.get(film_id)) for film_id in catalog_table(data)["film_id"]]
    return pooled_panel(frames)


def inference_ms_per_film(panel: pd.DataFrame, architecture: str, repeats: int = 5) -> dict:
    """Median ms per film of the live forecast of every film, in one batch and one film at a time."""
    from cineseq_assets.forecast.onnx_export import OnnxForecaster, export_onnx
    from cineseq_assets.forecast.store import save_model
    from cineseq_assets.forecast.windows import build_windows

    config = TrainConfig(architecture=architecture, epochs=1)
    data = prepare(panel, config)
    trained = train_model(data, config)
    windows = build_windows(panel, min_targets=0).with_prior(trained.pooled)
    live = windows.subset(windows.is_last_origin())
    with tempfile.TemporaryDirectory() as folder:
        weights = save_model(trained, Path(folder) / f"{architecture}.parquet")
        onnx = OnnxForecaster(export_onnx(trained, Path(folder) / f"{architecture}.onnx"), weights)
        out = {}
        for name, model in (("torch", trained), ("onnxruntime", onnx)):
            # Bind this iteration's model as a default: the timing runs before the loop moves on; the default says so.
            batch = _median_seconds(lambda model=model: model.predict(live), repeats)
            single = _median_seconds(
                lambda model=model: [model.predict(live.subset(slice(i, i + 1))) for i in range(200)], repeats)
            out[f"{name}_batch_ms"] = 1000 * batch / len(live)
            out[f"{name}_single_ms"] = 1000 * single / 200
    return out


def _median_seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _pm(mean: float, std: float, digits: int = 3) -> str:
    return f"{mean:.{digits}f} ± {0.0 if np.isnan(std) else std:.{digits}f}"


def table(result, split_kind: str, inference: dict[str, dict]) -> pd.DataFrame:
    errors = result.errors[result.errors["split_kind"] == split_kind]
    rows = []
    for model, part in errors.groupby("model"):
        overall = part[part["grouping"] == "overall"]
        row = {"model": model, "WAPE": _pm(overall["wape"].mean(), overall["wape"].std()),
               "MAE $k": _pm(overall["mae"].mean() / 1e3, overall["mae"].std() / 1e3, 0),
               "RMSE $k": _pm(overall["rmse"].mean() / 1e3, overall["rmse"].std() / 1e3, 0)}
        for h in range(1, 5):
            step = part[(part["grouping"] == "horizon") & (part["group"] == str(h))]
            row[f"WAPE h{h}"] = _pm(step["wape"].mean(), step["wape"].std())
        row["cover80"] = f"{overall['coverage_80'].mean():.2f}" if overall["coverage_80"].notna().any() else "-"
        all_runs = result.runs
        runs = all_runs[(all_runs["model"] == model) & (all_runs["split_kind"] == split_kind)] if len(all_runs) else []
        row["fit s/seed"] = f"{runs['seconds'].median():.1f}" if len(runs) else "-"
        timing = inference.get(model.removesuffix("_direct"), {})
        for engine in ("torch", "onnxruntime"):
            row[f"{engine} ms/film (batch / one)"] = (f"{timing[f'{engine}_batch_ms']:.3f} / {timing[f'{engine}_single_ms']:.2f}"
                                                    if timing else "-")
        rows.append(row)
    return pd.DataFrame(rows).sort_values("WAPE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--split", default="by_film", choices=["by_film", "out_of_time"])
    parser.add_argument("--panel", help="a stored panel.parquet (default: build it from the bundled data)")
    parser.add_argument("--out", help="folder for the errors and test forecasts as Parquet")
    parser.add_argument("--skip-inference", action="store_true")
    parser.add_argument("--without-market", action="store_true",
                        help="also score every model with the test films' market unknown (<model>@no_market), "
                             "and a network trained without the market group")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)  # the reference's 2 cores; the library leaves threads to its caller
    panel = pd.read_parquet(args.panel) if args.panel else default_panel()
    print(f"panel: {panel['film_id'].nunique()} films, {len(panel)} film-weeks", flush=True)
    networks = (*NETWORKS, *WITHOUT_MARKET) if args.without_market else tuple(NETWORKS)
    config = EvaluationConfig(seeds=tuple(int(s) for s in args.seeds.split(",")), split_kinds=(args.split,),
                              networks=networks, unknown_market=args.without_market)
    result = evaluate(panel, config, progress=lambda m: print(m, flush=True))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        result.errors.to_parquet(Path(args.out) / "errors.parquet")
        result.forecasts.to_parquet(Path(args.out) / "test_forecasts.parquet")
    inference = {} if args.skip_inference else {a: inference_ms_per_film(panel, a) for a in ("seq2seq", "seq2seq_attention")}
    print(f"\nTest films, origins 2-8, horizons 1-4, dollars; mean ± std over seeds {args.seeds} ({args.split} split)")
    print("fit s/seed: training (networks) or fitting (baselines) time, median over seeds; inference: live forecast "
          "of every catalog film, ms per film in one batch / one film at a time, median of 5 runs\n")
    print(table(result, args.split, inference).to_markdown(index=False))
    print("\nheadline:", {k: round(v, 3) for k, v in headline(result, args.split).items()})


if __name__ == "__main__":
    main()
