"""Score the final domestic total forecast on test films, by origin week 1..8; print one table.

    python benchmarks/final_total.py [--model WEIGHTS.parquet] [--architecture seq2seq] [--max-seconds 100]

Builds the default catalog's panel from the bundled data and splits it by film (forecast.splits, the
split of the forecast_model asset). The 4-week forecaster is the stored model given with ``--model``
(it must have been trained on this split, as the forecast_model asset's are), else one network trained
here the way the forecast_model asset trains it (training films, early stopping and conformal band on
validation films). The final-total multipliers are fitted on training films, the band's widening and the
tail on validation films (forecast.final_total.fit_final_total), and every method is scored once on the
test films: MAPE and WAPE of the p50 final total (the catalog's total_gross, the whole daily chart)
and the share of totals inside [p10, p90].
"""

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from forecast import default_panel  # noqa: E402

from cineseq_assets.boxoffice.bundled import load_bundled  # noqa: E402
from cineseq_assets.forecast.final_total import final_totals, fit_final_total, score_totals, window_totals  # noqa: E402
from cineseq_assets.forecast.splits import assign_splits  # noqa: E402
from cineseq_assets.forecast.store import load_model  # noqa: E402
from cineseq_assets.forecast.train import TrainConfig, fit_forecaster, prepare  # noqa: E402


def forecaster(panel: pd.DataFrame, args) -> tuple[object, pd.Series]:
    if args.model:
        return load_model(Path(args.model))[0], assign_splits(panel)
    config = TrainConfig(architecture=args.architecture, max_seconds=args.max_seconds)
    data = prepare(panel, config)
    return fit_forecaster(data, config), data.split  # as forecast_model: the booster blended in, the band calibrated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a stored forecaster's weights file (default: train one here)")
    parser.add_argument("--architecture", default="seq2seq")
    parser.add_argument("--max-seconds", type=float, default=100.0)
    args = parser.parse_args()
    started = time.perf_counter()
    panel = default_panel()
    totals = final_totals(panel, load_bundled().films)
    model, split = forecaster(panel, args)
    print(f"panel and forecaster: {time.perf_counter() - started:.0f} s; films per split {split.value_counts().to_dict()}")
    final, validation = fit_final_total(model, panel, split, totals)
    print(f"tail chosen on validation films: {final.tail}; validation WAPE (origins 1-8) "
          + ", ".join(f"{k} {v:.3f}" for k, v in sorted(final.validation.items(), key=lambda kv: kv[1])))
    test = panel[panel["film_id"].astype(str).map(split).eq("test").to_numpy()]
    table = score_totals(window_totals(model, final, test, origins=(1, 8)), totals)
    wide = table.pivot(index="origin_week", columns="method", values=["mape", "wape", "coverage_80"])
    wide.columns = [f"{method} {metric}" for metric, method in wide.columns]
    wide = wide[sorted(wide.columns, key=lambda c: (c.split()[0], c.split()[1]))]
    wide.insert(0, "films", table.groupby("origin_week")["films"].first())
    order = [str(t) for t in range(1, 9)] + ["all"]
    print(f"Final domestic total on test films ({model.architecture}; {time.perf_counter() - started:.0f} s in all)")
    shown = wide.reindex(order)
    print(shown.to_markdown(floatfmt=["", ".0f"] + [".3f"] * (shown.shape[1] - 1)))


if __name__ == "__main__":
    main()
