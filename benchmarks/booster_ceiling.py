"""How far the booster's inputs can take a 4-week forecast: out of sample, with recency weights, and
with the test films themselves in training (a ceiling); print one table per split.

    python benchmarks/booster_ceiling.py [--split by_film|out_of_time|both]

The booster (forecast.boosting, the gradient-boosted half of the served forecaster) reads the same
windows as the networks. Three ways of training it, each scored on the same test windows (origins 2-8,
horizons 1-4, dollars):

- as served: the training films;
- recency weights: each training window weighs exp((year - last training year) / tau), tau chosen on
  the latest validation films (the last 4 training years; the recency lever of the issue's "sample
  weights chosen on validation");
- in sample: the training films and the test films. A booster that has seen the outcomes it is scored
  on is no forecaster; its error is a floor on what these inputs can explain with the booster's
  settings (at least 40 rows per leaf), so a target below it asks for information the inputs lack.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from forecast import default_panel  # noqa: E402

from cineseq_assets.forecast.boosting import Booster  # noqa: E402
from cineseq_assets.forecast.metrics import errors_by_horizon, point_errors  # noqa: E402
from cineseq_assets.forecast.splits import SplitConfig  # noqa: E402
from cineseq_assets.forecast.train import TrainConfig, prepare  # noqa: E402
from cineseq_assets.forecast.windows import build_windows  # noqa: E402

TAUS = (12.0, 8.0, 5.0, 3.0)  # years
LATEST_YEARS = 4


def wape(p50, windows, films=None) -> float:
    """Dollar WAPE of log1p p50 [N, H] on ``windows``' known targets (of the windows in ``films`` only)."""
    mask = windows.target_mask > 0
    if films is not None:
        mask &= films[:, None]
    return point_errors(np.expm1(p50[mask]), np.expm1(windows.target[mask]))["wape"]


def row(name: str, p50, windows, seconds: float, note: str = "") -> str:
    """A table row: WAPE over all horizons, then per horizon, in dollars."""
    dollars = np.repeat(np.expm1(p50)[..., None], 3, axis=-1)
    actual = np.where(windows.target_mask > 0, np.expm1(windows.target), np.nan)
    by_horizon = {record["horizon"]: record["wape"] for record in errors_by_horizon(dollars, actual)}
    cells = [name, *(f"{by_horizon[h]:.3f}" for h in ("all", "1", "2", "3", "4")), f"{seconds:.0f}", note]
    return "| " + " | ".join(cells) + " |"


def one_split(panel, kind: str) -> None:
    config = TrainConfig()
    data = prepare(panel, config, SplitConfig(kind=kind))
    train, validation, test = data.train, data.validation, data.test
    print(f"\n**{kind}** ({len(test)} test windows; training films' last year {train.release_year.max()})\n")
    print("| booster trained on | WAPE | h1 | h2 | h3 | h4 | fit s | note |")
    print("|---|---|---|---|---|---|---|---|")
    latest_validation = {}
    for tau in (None, *TAUS):
        started = time.perf_counter()
        weight = None if tau is None else np.exp((train.release_year - train.release_year.max()) / tau)
        booster = Booster.fit(train, window_weight=weight)
        seconds = time.perf_counter() - started
        latest_validation[tau] = wape(booster.predict(validation), validation, latest(validation, train))
        name = "training films (as served)" if tau is None else f"training films, recency tau {tau:g} years"
        print(row(name, booster.predict(test), test, seconds, f"latest validation films {latest_validation[tau]:.3f}"),
              flush=True)
    best = min(latest_validation, key=lambda tau: latest_validation[tau])
    chosen = "no recency weights" if best is None else f"tau {best:g} years"
    films = data.split.replace({"test": "train"})
    with_test = prepare(panel, config, SplitConfig(kind=kind, train_on_test=True), films=films)
    test_again = build_windows(panel[panel["film_id"].map(data.split).eq("test").to_numpy()], config.encoder_length,
                               config.eval_origins).with_prior(with_test.pooled, config.prior)
    started = time.perf_counter()
    ceiling = Booster.fit(with_test.train)
    print(row("training films + the test films (in sample: a ceiling)", ceiling.predict(test_again), test_again,
              time.perf_counter() - started, "not a forecast"), flush=True)
    print(f"\nrecency weights chosen on the latest validation films: {chosen}")


def latest(validation, train) -> np.ndarray:
    return validation.release_year > train.release_year.max() - LATEST_YEARS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["by_film", "out_of_time", "both"], default="both")
    args = parser.parse_args()
    started = time.perf_counter()
    panel = default_panel()
    print(f"panel: {panel['film_id'].nunique()} films, {time.perf_counter() - started:.0f} s")
    for kind in (["by_film", "out_of_time"] if args.split == "both" else [args.split]):
        one_split(panel, kind)


if __name__ == "__main__":
    main()
