"""Splits by film: every window of a film lands in the same split, so no film is seen twice.

``by_film`` stratifies by opening-year bucket and release width (a year's wide releases are
spread over train, validation and test); ``out_of_time`` trains on releases before a cutoff
year and tests on the releases from it on, the way a model is used in practice.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..boxoffice.schema import WIDE_RELEASE_THEATERS
from ..splitting import assign_groups

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitConfig:
    kind: str = "by_film"  # or "out_of_time"
    validation_share: float = 0.15
    test_share: float = 0.15
    cutoff_year: int = 2018  # out_of_time: test on releases from this year on
    year_bucket: int = 3  # by_film: years per stratum
    seed: int = 20240101  # the split's own seed, fixed across model seeds
    # the served model: the test films join training once the evaluation has scored them (the same
    # validation films stay held out, for early stopping, the blend and the band); 15% more films
    train_on_test: bool = False


# forecast_model's split: the same validation films, the test films training the served model
SERVED_SPLIT = SplitConfig(train_on_test=True)


def film_table(panel: pd.DataFrame) -> pd.DataFrame:
    films = panel.drop_duplicates("film_id")[["film_id", "release_date", "opening_theaters"]].copy()
    films["year"] = pd.to_datetime(films["release_date"]).dt.year
    films["wide"] = films["opening_theaters"].astype(float) >= WIDE_RELEASE_THEATERS
    return films.sort_values("film_id").reset_index(drop=True)


def assign_splits(panel: pd.DataFrame, config: SplitConfig = SplitConfig()) -> pd.Series:
    """film_id -> "train" | "validation" | "test"."""
    films = film_table(panel)
    split = pd.Series("train", index=films["film_id"].to_numpy(), dtype=object)
    if config.kind == "by_film":
        strata = dict(zip(films["film_id"], zip(films["year"] // config.year_bucket, films["wide"])))
        held_out = {"test": config.test_share, "validation": config.validation_share}
    elif config.kind == "out_of_time":
        late = films["year"] >= config.cutoff_year
        split[films.loc[late, "film_id"].to_numpy()] = "test"
        strata = dict(zip(films.loc[~late, "film_id"], films.loc[~late, "wide"]))
        held_out = {"validation": config.validation_share}
    else:
        raise ValueError(f"unknown split kind {config.kind!r}: use 'by_film' or 'out_of_time'")
    assigned = assign_groups(strata, held_out, seed=config.seed)
    split[list(assigned)] = list(assigned.values())
    if config.train_on_test:
        split[split == "test"] = "train"
    return split
