"""Whole-set summaries of the per-film decay fits.

* ``pooled_fixed_effects``: one common weekly decay rate, each film keeping its own level (film
  fixed effects), for all films and for wide and limited openers separately.
* ``group_summary``: how well the per-film fits explain the runs (R^2) and how fast films halve,
  by release width, genre and release year.
* ``share_well_explained``: the share of films whose decay line explains most of the variation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from ..boxoffice.schema import WIDE_RELEASE_THEATERS
from .fits import half_life

FE_COLUMNS = ["scope", "n_films", "n_obs", "slope", "se", "weekly_retention", "half_life_weeks", "within_r2"]
SUMMARY_COLUMNS = [
    "grouping",
    "group",
    "window",
    "n_films",
    "r2_median",
    "r2_q25",
    "r2_q75",
    "half_life_median",
    "half_life_q25",
    "half_life_q75",
    "share_r2_ge_0_9",
]
GROUPING_ORDER = ["all", "showcase", "release_width", "genre", "release_year"]
UNKNOWN = "Unknown"
WELL_EXPLAINED_R2 = 0.9


# --- pooled regression with film fixed effects -------------------------------------------------


def pooled_fixed_effects(panel: pd.DataFrame) -> pd.DataFrame:
    """Pooled OLS of log gross on week with film fixed effects, for all / wide / limited films.

    ``panel`` columns: ``film_id, week, gross, release_width`` ("wide"/"limited"); rows outside the
    usable run are ignored when a ``usable`` column is present. Weeks without positive gross are
    dropped (no log), and so are films left with one week (a lone week is absorbed entirely by its
    film's mean and says nothing about the slope). Columns of the result: ``FE_COLUMNS``.
    """
    data = _fe_sample(panel)
    width = data["release_width"].astype("string").str.lower()
    scopes = {"all": data, "wide": data[width == "wide"], "limited": data[width == "limited"]}
    return pd.DataFrame([_within_regression(scope, subset) for scope, subset in scopes.items()], columns=FE_COLUMNS)


def _fe_sample(panel: pd.DataFrame) -> pd.DataFrame:
    """Usable weeks with positive gross, log-transformed, from films with at least two such weeks."""
    data = panel[panel["usable"].astype(bool)] if "usable" in panel else panel
    data = data[np.isfinite(data["gross"]) & (data["gross"] > 0)]
    data = data.assign(log_gross=np.log(data["gross"]), week=data["week"].astype(float))
    weeks_per_film = data.groupby("film_id")["week"].transform("size")
    return data[weeks_per_film >= 2]


def _within_regression(scope: str, data: pd.DataFrame) -> dict:
    """Within (demeaned) estimator: the film means absorb the fixed effects without a dummy matrix.

    Demeaning by film gives the same slope as OLS with one dummy per film (Frisch-Waugh-Lovell),
    but OLS on demeaned data counts only the slope as estimated. The film means used n_films more
    degrees of freedom, so the residual df is set to n_obs - n_films - 1 before fitting, which
    makes statsmodels' standard error the dummy-variable one.
    """
    n_obs, n_films = len(data), data["film_id"].nunique()
    df_resid = n_obs - n_films - 1
    row = {"scope": scope, "n_films": n_films, "n_obs": n_obs}
    if df_resid <= 0:
        return {**row, "slope": np.nan, "se": np.nan, "weekly_retention": np.nan,
                "half_life_weeks": np.nan, "within_r2": np.nan}
    by_film = data.groupby("film_id")
    log_gross = (data["log_gross"] - by_film["log_gross"].transform("mean")).to_numpy()
    week = (data["week"] - by_film["week"].transform("mean")).to_numpy()
    model = sm.OLS(log_gross, week[:, None])  # no constant: demeaned data has mean zero
    model.df_resid = df_resid
    result = model.fit()
    slope = float(result.params[0])
    return {
        **row,
        "slope": slope,
        "se": float(result.bse[0]),
        "weekly_retention": float(np.exp(slope)),
        "half_life_weeks": half_life(slope),
        "within_r2": 1.0 - float(result.ssr) / float(np.sum(log_gross**2)),
    }


# --- distribution of the per-film fits by group ------------------------------------------------


def group_summary(fits: pd.DataFrame, films: pd.DataFrame) -> pd.DataFrame:
    """Distribution of R^2 and half-life per window, overall and by width, genre and year.

    ``fits``: rows of ``fits.fit_film_decay`` (``film_id, window, r2, half_life_weeks``); films
    without a fit (NaN R^2) are left out of every count. ``films``: one row per film with
    ``genres`` ('|'-joined; empty/None -> "Unknown"; a film counts once in each of its genres),
    ``showcase`` (bool), ``release_date`` (or ``release_year``) and ``release_width`` (or
    ``opening_theaters``, split at ``WIDE_RELEASE_THEATERS``). Columns: ``SUMMARY_COLUMNS``.

    Half-life quantiles are taken on the decay-rate scale (ln 2 / half-life, where a film that
    does not decay has rate 0) and mapped back: half-life is +inf for such films, and
    interpolating between two infinities is undefined, while the order statistics are the same.
    """
    fitted = fits.loc[fits["r2"].notna(), ["film_id", "window", "r2", "half_life_weeks"]]
    members = _group_memberships(fitted["film_id"].unique(), films)
    merged = members.merge(fitted, on="film_id")
    rows = [
        {"grouping": grouping, "group": group, "window": window, **_distribution(part)}
        for (grouping, group, window), part in merged.groupby(["grouping", "group", "window"], sort=False)
    ]
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return _order_summary(summary)


def share_well_explained(fits: pd.DataFrame, window: str = "run", threshold: float = WELL_EXPLAINED_R2) -> float:
    """Share of fitted films in ``window`` with R^2 >= ``threshold``; NaN when no film has a fit."""
    r2 = fits.loc[fits["window"] == window, "r2"].dropna()
    return float((r2 >= threshold).mean()) if len(r2) else np.nan


def _distribution(part: pd.DataFrame) -> dict:
    r2 = part["r2"]
    rate = np.log(2.0) / part["half_life_weeks"]  # +inf half-life -> rate 0
    # Half-life falls as the rate rises, so its lower quartile is the rate's upper one.
    rate_q25, rate_median, rate_q75 = rate.quantile([0.25, 0.5, 0.75]).to_numpy()
    return {
        "n_films": int(part["film_id"].nunique()),
        "r2_median": float(r2.median()),
        "r2_q25": float(r2.quantile(0.25)),
        "r2_q75": float(r2.quantile(0.75)),
        "half_life_median": _rate_to_half_life(rate_median),
        "half_life_q25": _rate_to_half_life(rate_q75),
        "half_life_q75": _rate_to_half_life(rate_q25),
        "share_r2_ge_0_9": float((r2 >= WELL_EXPLAINED_R2).mean()),
    }


def _rate_to_half_life(rate: float) -> float:
    if not np.isfinite(rate):
        return np.nan
    return np.log(2.0) / rate if rate > 0 else np.inf


def _group_memberships(film_ids: np.ndarray, films: pd.DataFrame) -> pd.DataFrame:
    """Long table (grouping, group, film_id): which groups each fitted film belongs to."""
    info = pd.DataFrame({"film_id": film_ids}).merge(films.drop_duplicates("film_id"), on="film_id", how="left")
    parts = [pd.DataFrame({"grouping": "all", "group": "all", "film_id": info["film_id"]})]
    if "showcase" in info:
        showcase = info.loc[info["showcase"].fillna(False).astype(bool), "film_id"]
        parts.append(pd.DataFrame({"grouping": "showcase", "group": "showcase", "film_id": showcase}))
    parts.append(_membership("release_width", info["film_id"], release_width(info)))
    parts.append(_genre_membership(info))
    parts.append(_membership("release_year", info["film_id"], _release_year(info)))
    return pd.concat(parts, ignore_index=True)


def _membership(grouping: str, film_id: pd.Series, group: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"grouping": grouping, "group": group.to_numpy(), "film_id": film_id.to_numpy()})


def _genre_membership(info: pd.DataFrame) -> pd.DataFrame:
    genres = info["genres"] if "genres" in info else pd.Series(None, index=info.index, dtype=object)
    split = genres.fillna("").astype(str).str.split("|").map(_clean_genres)
    long = pd.DataFrame({"film_id": info["film_id"], "group": split}).explode("group")
    return long.assign(grouping="genre")[["grouping", "group", "film_id"]]


def _clean_genres(names: list[str]) -> list[str]:
    """Strip, drop blanks and duplicates (a film counts once per genre); none left -> Unknown."""
    cleaned = list(dict.fromkeys(name.strip() for name in names if name.strip()))
    return cleaned or [UNKNOWN]


def release_width(films: pd.DataFrame) -> pd.Series:
    """'wide'/'limited' per film: the ``release_width`` column, else opening theaters vs the threshold."""
    if "release_width" in films:
        return films["release_width"].astype("string").str.lower().fillna(UNKNOWN).astype(object)
    if "opening_theaters" in films:
        theaters = pd.to_numeric(films["opening_theaters"], errors="coerce")
        width = np.where(theaters >= WIDE_RELEASE_THEATERS, "wide", "limited")
        return pd.Series(np.where(theaters.isna(), UNKNOWN, width), index=films.index, dtype=object)
    return pd.Series(UNKNOWN, index=films.index, dtype=object)


def _release_year(info: pd.DataFrame) -> pd.Series:
    if "release_year" in info:
        year = pd.to_numeric(info["release_year"], errors="coerce")
    elif "release_date" in info:
        year = pd.to_datetime(info["release_date"], errors="coerce").dt.year
    else:
        year = pd.Series(np.nan, index=info.index)
    return year.map(lambda y: str(int(y)) if pd.notna(y) else UNKNOWN)


def _order_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Groupings in a fixed reading order, groups alphabetical (years chronological) within each."""
    rank = summary["grouping"].map({name: i for i, name in enumerate(GROUPING_ORDER)})
    ordered = summary.assign(_rank=rank).sort_values(["_rank", "group", "window"], kind="stable")
    return ordered.drop(columns="_rank").reset_index(drop=True)
