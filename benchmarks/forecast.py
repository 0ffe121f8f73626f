"""Train and evaluate every forecaster and baseline on the default catalog; print one table.

    python benchmarks/forecast.py [--seeds 0,1,2] [--split by_film|out_of_time|both] [--without-market] [--out DIR]
                                  [--peers [--reference MODEL]] [--threads N]

For each seed: the networks are trained on the training films, early-stopped and calibrated on
the validation films and scored once on the test films (origins 2-8, horizons 1-4, dollars).
Prints WAPE / MAE / RMSE overall and WAPE per horizon (mean +- std over seeds), the 80%
interval's coverage (``cover80``: widened at each forecast's date by the outcomes known by then of the
films the model never trained on, forecast.calibration; ``cover80 fixed band``: calibrated once on the
validation films), training seconds per model per seed, and inference time per film with
PyTorch and onnxruntime. Targets on 2 cores: training <= 120 s per model per seed, inference
<= 2 ms per film, Seq2Seq + attention >= 40% below pooled decay and below LightGBM.

``--peers`` adds the peers of benchmarks/peers.py (a direct LightGBM, mlforecast + LightGBM,
neuralforecast NHITS and TFT, statsforecast AutoETS; the ``bench`` extra, ``BENCH=1 scripts/setup.sh``)
to the same run, and prints one side-by-side table per split: rows covered, and for a model that
left rows uncovered the reference model's WAPE on the same rows; then the best peer. ``--record`` also
records those tables in the Dagster instance (``$DAGSTER_HOME``) as an observation of ``forecast_evaluation``,
so the asset's page shows the peers beside the product's own evaluation; the product never imports a peer.
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

from cineseq_assets.forecast.evaluate import (  # noqa: E402
    MARKET_MASKED,
    NETWORKS,
    SERVED,
    SERVED_MARKET_MASKED,
    EvaluationConfig,
    evaluate,
    headline,
)
from cineseq_assets.forecast.train import TrainConfig, fit_forecaster, prepare  # noqa: E402


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
    """Median ms per film of the live forecast of every film, in one batch and one film at a time, by the
    forecaster as it serves (the network with its booster blended in and the band calibrated)."""
    from cineseq_assets.forecast.onnx_export import OnnxForecaster, export_onnx
    from cineseq_assets.forecast.store import save_model
    from cineseq_assets.forecast.windows import build_windows

    config = TrainConfig(architecture=architecture, epochs=1)
    data = prepare(panel, config)
    trained = fit_forecaster(data, config)
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
        static = runs["coverage_80_static"] if len(runs) and "coverage_80_static" in runs else pd.Series(dtype=float)
        row["cover80 fixed band"] = f"{static.mean():.2f}" if static.notna().any() else "-"
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
    parser.add_argument("--split", default="by_film", choices=["by_film", "out_of_time", "both"])
    parser.add_argument("--peers", action="store_true", help="also train and score the peers (benchmarks/peers.py)")
    parser.add_argument("--reference", default="served",
                        help="the product model a peer that covers fewer rows is compared with on its rows")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch and the peers (the reference: 2 cores)")
    parser.add_argument("--panel", help="a stored panel.parquet (default: build it from the bundled data)")
    parser.add_argument("--out", help="folder for the errors and test forecasts as Parquet")
    parser.add_argument("--skip-inference", action="store_true")
    parser.add_argument("--record", action="store_true",
                        help="with --peers: record the side-by-side tables as an observation of forecast_evaluation")
    parser.add_argument("--without-market", action="store_true",
                        help="also score every model with the test films' market unknown (<model>@no_market), "
                             "and the networks and served forecaster that read the market where known (market_dropout 0.5)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)  # the reference's 2 cores; the library leaves threads to its caller
    panel = pd.read_parquet(args.panel) if args.panel else default_panel()
    print(f"panel: {panel['film_id'].nunique()} films, {len(panel)} film-weeks", flush=True)
    networks = (*NETWORKS, *SERVED, *((*MARKET_MASKED, *SERVED_MARKET_MASKED) if args.without_market else ()))
    splits = ("by_film", "out_of_time") if args.split == "both" else (args.split,)
    extra = {}
    if args.peers:
        from peers import peer_forecasters

        extra = peer_forecasters(panel, threads=args.threads)
    config = EvaluationConfig(seeds=tuple(int(s) for s in args.seeds.split(",")), split_kinds=splits,
                              networks=networks, unknown_market=args.without_market, extra_forecasters=extra)
    result = evaluate(panel, config, progress=lambda m: print(m, flush=True))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        result.errors.to_parquet(Path(args.out) / "errors.parquet")
        result.forecasts.to_parquet(Path(args.out) / "test_forecasts.parquet")
    inference = {} if args.skip_inference else {a: inference_ms_per_film(panel, a) for a in ("seq2seq", "seq2seq_attention")}
    side_by_side_tables = {}
    for split in splits:
        if args.peers:
            side_by_side_tables[split] = print_side_by_side(result, split, args.reference, tuple(extra))
            continue
        print(f"\nTest films, origins 2-8, horizons 1-4, dollars; mean ± std over seeds {args.seeds} ({split} split)")
        print("fit s/seed: training (networks) or fitting (baselines) time, median over seeds; inference: live forecast "
              "of every catalog film, ms per film in one batch / one film at a time, median of 5 runs\n")
        print(table(result, split, inference).to_markdown(index=False))
        print("\nheadline:", {k: round(v, 3) for k, v in headline(result, split).items()})
    if args.record and side_by_side_tables:
        import dagster as dg

        record_peers(dg.DagsterInstance.get(), side_by_side_tables, args.reference, " ".join(sys.argv[1:]))
        print("\nrecorded as an observation of forecast_evaluation in the Dagster instance")


def record_peers(instance, tables: dict[str, pd.DataFrame], reference: str, command: str) -> None:
    """Record each split's side-by-side table (``peers.side_by_side``) as metadata of an observation of
    ``forecast_evaluation``: the table, the best peer, its WAPE and the reference's margin against it."""
    import dagster as dg
    from peers import best_peer, format_table

    metadata = {"benchmark": f"benchmarks/forecast.py {command}", "reference": reference}
    for split, scores in tables.items():
        metadata[f"peers_{split}"] = dg.MetadataValue.md(format_table(scores, reference))
        best = best_peer(scores)
        if best is None or reference not in scores.index:
            continue
        wape, best_wape = float(scores.loc[reference, "wape"]), float(scores.loc[best, "wape"])
        metadata |= {f"best_peer_{split}": best, f"best_peer_wape_{split}": best_wape,
                     f"{reference}_wape_{split}": wape, f"margin_over_best_peer_{split}": wape / best_wape - 1}
    instance.report_runless_asset_event(dg.AssetObservation(asset_key="forecast_evaluation", metadata=metadata))


def print_side_by_side(result, split: str, reference: str, peer_names: tuple[str, ...]) -> pd.DataFrame:
    """Print the product's models and the peers on the same test rows, and the best peer; return the table."""
    from peers import best_peer, format_table, side_by_side

    scores = side_by_side(result.forecasts, result.runs, split, reference, peer_names)
    print(f"\nProduct models and peers, {split} split: test films, origins 2-8, horizons 1-4, dollars, mean over seeds; "
          "rows: test rows (window x horizon with a known actual) forecast, of all; cover80 on the rows with a band; "
          "fit / predict s: median over seeds\n")
    print(format_table(scores, reference))
    best = best_peer(scores)
    if best is not None:
        line = f"\nbest peer ({split}): {best}, WAPE {scores.loc[best, 'wape']:.3f}"
        if reference in scores.index:
            ratio = scores.loc[reference, "wape"] / scores.loc[best, "wape"] - 1
            line += f"; {reference} {scores.loc[reference, 'wape']:.3f} ({ratio:+.1%} against it)"
        print(line)
    return scores


if __name__ == "__main__":
    main()
