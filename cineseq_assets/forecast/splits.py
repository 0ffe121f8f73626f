"""Splits by film: every window of a film lands in the same split, so no film is seen twice.

``by_film`` stratifies by opening-year bucket and release width (a year's wide releases are
spread over train, validation and test); ``out_of_time`` trains on releases before a cutoff
year and tests on the releases from it on, the way a model is used in practice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..boxoffice.schema import WIDE_RELEASE_THEATERS

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitConfig:
    kind: str = "by_film"  # or "out_of_time"
    validation_share: float = 0.15
    test_share: float = 0.15
    cutoff_year: int = 2018  # out_of_time: test on releases from this year on
    year_bucket: int = 3  # by_film: years per stratum
    seed: int = 20240101  # the split's own seed, fixed across model seeds


def film_table(panel: pd.DataFrame) -> pd.DataFrame:
    films = panel.drop_duplicates("film_id")[["film_id", "release_date", "opening_theaters"]].copy()
    films["year"] = pd.to_datetime(films["release_date"]).dt.year
    films["wide"] = films["opening_theaters"].astype(float) >= WIDE_RELEASE_THEATERS
    return films.sort_values("film_id").reset_index(drop=True)


def assign_splits(panel: pd.DataFrame, config: SplitConfig = SplitConfig()) -> pd.Series:
    """film_id -> "train" | "validation" | "test"."""
    films = film_table(panel)
    rng = np.random.default_rng(config.seed)
    split = pd.Series("train", index=films["film_id"].to_numpy(), dtype=object)
    if config.kind == "by_film":
        strata = films.groupby([films["year"] // config.year_bucket, films["wide"]])["film_id"]
        for _, ids in strata:
            _cut(split, rng.permutation(ids.to_numpy()), config.validation_share, config.test_share)
    elif config.kind == "out_of_time":
        late = films["year"] >= config.cutoff_year
        split[films.loc[late, "film_id"].to_numpy()] = "test"
        early = films[~late]
        for _, ids in early.groupby("wide")["film_id"]:
            _cut(split, rng.permutation(ids.to_numpy()), config.validation_share, 0.0)
    else:
        raise ValueError(f"unknown split kind {config.kind!r}: use 'by_film' or 'out_of_time'")
    return split


def _cut(split: pd.Series, ids: np.ndarray, validation_share: float, test_share: float) -> None:
    n = len(ids)
    n_test = int(round(n * test_share))
    n_val = int(round(n * validation_share))
    split[ids[:n_test]] = "test"
    split[ids[n_test: n_test + n_val]] = "validation"
