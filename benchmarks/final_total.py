"""Score the final domestic total forecast on test films, by origin week 1..8; print one table.

    python benchmarks/final_total.py [--model WEIGHTS.parquet] [--architecture seq2seq] [--max-seconds 100]
                                     [--split-seeds 20240101,1,2]

Builds the default catalog's panel from the bundled data and splits it by film (forecast.splits, the
split of the forecast_model asset). The 4-week forecaster is the stored model given with ``--model``
(it must have been trained on this split, as the forecast_model asset's are), else one network trained
here the way the forecast_model asset trains it (training films, early stopping and conformal band on
validation films). The final-total multipliers are fitted on training films, the band's widening and the
tail on validation films (forecast.final_total.fit_final_total), and every method is scored once on the
test films: MAPE and WAPE of the p50 final total (the catalog's total_gross, the whole daily chart)
and the share of totals inside [p10, p90].

A band calibrated on one draw of validation films covers a different draw of test films by 80% only on
average: ``--split-seeds`` repeats the whole run on other draws of the split (the forecaster retrained
each time) and prints, per draw, the overall scores and the rule of thumb's coverage on the validation
and the test films. The rule of thumb is fitted on training films alone, so a gap between its two
coverages is the draw's doing, not the forecaster's or its calibration's.
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
from cineseq_assets.forecast.final_total import BASELINE, final_totals, fit_final_total, score_totals, window_totals  # noqa: E402
from cineseq_assets.forecast.splits import SplitConfig, assign_splits  # noqa: E402
from cineseq_assets.forecast.store import load_model  # noqa: E402
from cineseq_assets.forecast.train import TrainConfig, fit_forecaster, prepare  # noqa: E402


def forecaster(panel: pd.DataFrame, args, split: SplitConfig) -> tuple[object, pd.Series]:
    if args.model:
        return load_model(Path(args.model))[0], assign_splits(panel, split)
    config = TrainConfig(architecture=args.architecture, max_seconds=args.max_seconds)
    data = prepare(panel, config, split)
    return fit_forecaster(data, config), data.split  # as forecast_model: the booster blended in, the band calibrated


def films_of(panel: pd.DataFrame, split: pd.Series, name: str) -> pd.DataFrame:
    return panel[panel["film_id"].astype(str).map(split).eq(name).to_numpy()]


def one_draw(panel: pd.DataFrame, totals: pd.Series, args, split_config: SplitConfig, started: float) -> dict:
    """Score one draw of the split, print its table by origin week, and return its summary row."""
    model, split = forecaster(panel, args, split_config)
    print(f"split seed {split_config.seed}: panel and forecaster {time.perf_counter() - started:.0f} s; "
          f"films per split {split.value_counts().to_dict()}")
    final, _ = fit_final_total(model, panel, split, totals)
    print(f"tail chosen on validation films: {final.tail}; validation WAPE (origins 1-8) "
          + ", ".join(f"{k} {v:.3f}" for k, v in sorted(final.validation.items(), key=lambda kv: kv[1])))
    table = score_totals(window_totals(model, final, films_of(panel, split, "test"), origins=(1, 8)), totals)
    rule_on_validation = score_totals(window_totals(model, final, films_of(panel, split, "validation"), origins=(1, 8),
                                                    methods=(BASELINE,)), totals)

    def overall(scores: pd.DataFrame, method: str, metric: str) -> float:
        return float(scores.loc[(scores["method"] == method) & (scores["origin_week"] == "all"), metric].iloc[0])

    summary = {"split seed": split_config.seed, "model total WAPE": overall(table, final.tail, "wape"),
               "model total 80% coverage": overall(table, final.tail, "coverage_80"),
               "rule of thumb WAPE": overall(table, BASELINE, "wape"),
               "rule of thumb coverage, test films": overall(table, BASELINE, "coverage_80"),
               "rule of thumb coverage, validation films": overall(rule_on_validation, BASELINE, "coverage_80")}
    print_by_origin(table, f"Final domestic total on test films, split seed {split_config.seed} "
                    f"(model total: the {final.tail} tail; {time.perf_counter() - started:.0f} s in all)")
    return summary


def print_by_origin(table: pd.DataFrame, title: str) -> None:
    wide = table.pivot(index="origin_week", columns="method", values=["mape", "wape", "coverage_80"])
    wide.columns = [f"{method} {metric}" for metric, method in wide.columns]
    wide = wide[sorted(wide.columns, key=lambda c: (c.split()[0], c.split()[1]))]
    wide.insert(0, "films", table.groupby("origin_week")["films"].first())
    order = [str(t) for t in range(1, 9)] + ["all"]
    print(title)
    shown = wide.reindex(order)
    print(shown.to_markdown(floatfmt=["", ".0f"] + [".3f"] * (shown.shape[1] - 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a stored forecaster's weights file (default: train one here)")
    parser.add_argument("--architecture", default="seq2seq")
    parser.add_argument("--max-seconds", type=float, default=100.0)
    parser.add_argument("--split-seeds", default=str(SplitConfig().seed),
                        help="comma-separated seeds of the by-film split, one whole run each (default: the product's split)")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.split_seeds.split(",")]
    if args.model and seeds != [SplitConfig().seed]:
        parser.error("--model is trained on the product's split: it cannot be scored on other draws (drop --split-seeds)")
    started = time.perf_counter()
    panel = default_panel()
    totals = final_totals(panel, load_bundled().films)
    summaries = [one_draw(panel, totals, args, SplitConfig(seed=seed), started) for seed in seeds]
    if len(seeds) > 1:
        draws = pd.DataFrame(summaries)
        spread = draws.drop(columns="split seed").agg(["mean", "std"]).assign(**{"split seed": ["mean", "std"]})
        print("\nEvery draw of the split, test films, origins 1-8 (the rule of thumb is fitted on training films only)")
        print(pd.concat([draws, spread], ignore_index=True).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
