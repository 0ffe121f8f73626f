"""A film's final domestic gross from origin week t: gross to date + the 4-week forecast + the tail after week t+4.

Three tails continue the 4-week forecast (each chosen or rejected on validation films, never test films):

- ``decay_pooled``: week t+4's forecast continued with the training films' pooled week-of-run retention
  (the decay prior's own table) until week ``TAIL_END``;
- ``decay_own``: week t+4 continued geometrically at the forecast's own last week-over-week retention
  (p50 of t+4 over p50 of t+3, clipped to ``OWN_RETENTION``), summed to infinity;
- ``multiplier``: (gross to date + the 4 forecast weeks) x the median final / gross-through-week-w multiplier
  of training films at w = t+4, by release width.

The industry's rule of thumb, the baseline: gross to date x the same multiplier table at w = t.

The p10/p90 of a model total add the 4 weeks' p10 (p90) and the tail continued from them (forecast errors
of one film move together across weeks, so the quantiles are summed as if perfectly correlated), then are
widened per origin week, split-conformally on validation films, to cover 80%. The rule of thumb's band is
the p10/p90 of the training films' multipliers. A film's true final total is its catalog ``total_gross``
(the sum of its daily chart over the whole run) when a catalog is given, else the sum of its panel weeks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ..boxoffice.schema import WIDE_RELEASE_THEATERS
from .decay_prior import PooledRetention
from .metrics import conformal_margin, interval_coverage, point_errors
from .windows import Windows, build_windows

TAILS = ("decay_pooled", "decay_own", "multiplier")
BASELINE = "rule_of_thumb"
METHODS = (*TAILS, BASELINE)
MAX_WEEK = 40  # multipliers beyond this week of run reuse the last one (they are ~1 by then)
MIN_FILMS = 15  # a (width, week) cell with fewer films falls back to all widths
TAIL_END = 60  # the pooled decay tail stops at this week of run
OWN_RETENTION = (0.05, 0.9)  # clip of the forecast's own week-over-week retention
QUANTILES = (0.1, 0.5, 0.9)
COVERAGE = 0.8
TOTAL_COLUMNS = ["film_id", "origin_week", "release_width", "to_date", "method", "p10", "p50", "p90"]
# What a product table carries per film and origin week: the chosen tail's total and the rule of thumb's.
FINAL_COLUMNS = ["film_id", "origin_week", "gross_to_date", "final_p10", "final_p50", "final_p90", "final_tail",
                 "multiplier_baseline"]


@dataclass
class RunMultipliers:
    """Quantiles (p10, p50, p90) of final total / gross through week w, by width ("wide", "limited", "all")."""

    table: dict[str, list[list[float]]]  # width -> [week w - 1] -> [p10, p50, p90]

    @classmethod
    def fit(cls, panel: pd.DataFrame, totals: pd.Series) -> "RunMultipliers":
        """Fit on the panel rows of training films (the caller chooses them) and their final totals."""
        ratios = _ratios_by_week(panel, totals)
        table = {"all": _quantile_table(ratios)}
        for width, wide in (("wide", True), ("limited", False)):
            table[width] = _quantile_table(ratios[ratios["wide"] == wide], fallback=table["all"])
        return cls(table)

    def at(self, wide: np.ndarray, week: np.ndarray) -> np.ndarray:
        """[N, 3] multiplier quantiles at week of run ``week`` for each film's width."""
        index = np.clip(np.asarray(week, dtype=int), 1, MAX_WEEK) - 1
        return np.where(np.asarray(wide, dtype=bool)[:, None], self._arrays["wide"][index], self._arrays["limited"][index])

    @cached_property
    def _arrays(self) -> dict[str, np.ndarray]:
        """``table`` as arrays, made once: converting its lists costs more than the lookup of a one-film request."""
        return {width: np.asarray(rows, dtype=float) for width, rows in self.table.items()}

    def to_dict(self) -> dict:
        return {"table": self.table}

    @classmethod
    def from_dict(cls, data: dict) -> "RunMultipliers":
        return cls({k: [list(map(float, row)) for row in v] for k, v in data["table"].items()})


@dataclass
class FinalTotalModel:
    """What a final total needs beyond the 4-week forecaster: multipliers, the chosen tail, the band's widening."""

    multipliers: RunMultipliers
    tail: str = "decay_pooled"
    widening: dict[str, list[float]] = field(default_factory=dict)  # method -> per origin week 1..8 (log units)
    validation: dict[str, float] = field(default_factory=dict)  # tail -> validation WAPE (all origins)

    def to_dict(self) -> dict:
        return {"multipliers": self.multipliers.to_dict(), "tail": self.tail, "widening": self.widening,
                "validation": self.validation}

    @classmethod
    def from_dict(cls, data: dict) -> "FinalTotalModel":
        return cls(RunMultipliers.from_dict(data["multipliers"]), data["tail"],
                   {k: list(v) for k, v in data.get("widening", {}).items()}, dict(data.get("validation", {})))


def final_totals(panel: pd.DataFrame, catalog: pd.DataFrame | None = None) -> pd.Series:
    """film_id -> true final domestic gross: the catalog's ``total_gross`` (the whole daily chart) when
    given, else the sum of the film's panel weeks (a lower bound when its run continues past them)."""
    if catalog is not None:
        totals = catalog.set_index(catalog["film_id"].astype(str))["total_gross"].astype(float)
        return totals[totals.index.isin(panel["film_id"].astype(str).unique())]
    return panel.groupby(panel["film_id"].astype(str))["gross"].sum().astype(float)


def gross_to_date(panel: pd.DataFrame, film_id: np.ndarray, week: np.ndarray) -> np.ndarray:
    """Cumulative gross through ``week`` (the film's last panel week when its run ended before).
    Dictionaries rather than a pandas index: the demo asks this for one window on every request."""
    films, weeks = panel["film_id"].astype(str).to_numpy(), panel["week"].to_numpy(dtype=int)
    cum = panel["cum_gross"].to_numpy(dtype=float)
    known = ~np.isnan(cum)
    through = dict(zip(zip(films[known], weeks[known].tolist()), cum[known]))
    last = dict(zip(films[known], cum[known]))  # the later rows of a film, in panel (week) order, win
    keys = zip(np.asarray(film_id, dtype=str), np.asarray(week, dtype=int).tolist())
    return np.array([through.get(key, last.get(key[0], np.nan)) for key in keys], dtype=float)


def window_totals(forecaster, final_model: FinalTotalModel, panel: pd.DataFrame, windows: Windows | None = None,
                  methods: tuple[str, ...] = METHODS, origins: tuple[int, int] | None = None) -> pd.DataFrame:
    """The final-total forecasts (TOTAL_COLUMNS) of every window of ``panel`` (built with ``min_targets=0``
    unless given), from ``forecaster``'s weekly quantiles (a TrainedModel or an OnnxForecaster)."""
    config = forecaster.train_config
    if windows is None:
        windows = build_windows(panel, config.encoder_length, origins=origins, min_targets=0)
    windows = windows.with_prior(forecaster.pooled, config.prior)
    quantiles, _ = forecaster.predict(windows)
    to_date = gross_to_date(panel, windows.film_id, windows.origin)
    return total_forecasts(windows.film_id, windows.origin, windows.wide, to_date, np.expm1(quantiles.astype(float)),
                           forecaster.pooled, final_model, methods)


def fit_final_total(forecaster, panel: pd.DataFrame, split: pd.Series, totals: pd.Series,
                    origins: tuple[int, int] = (1, 8)) -> tuple[FinalTotalModel, pd.DataFrame]:
    """(the fitted FinalTotalModel, its validation scores): multipliers from the training films, the band's
    widening and the tail (lowest WAPE) from the validation films' windows at ``origins``."""
    film = panel["film_id"].astype(str)
    train = panel[film.map(split).eq("train").to_numpy()]
    model = FinalTotalModel(RunMultipliers.fit(train, totals[totals.index.isin(train["film_id"].astype(str))]))
    validation = panel[film.map(split).eq("validation").to_numpy()]
    forecasts = window_totals(forecaster, model, validation, origins=origins)
    model.widening = conformal_widening(forecasts, totals, origins[1])
    scores = score_totals(window_totals(forecaster, model, validation, origins=origins), totals, origins)
    model.tail, model.validation = choose_tail(scores)
    return model, scores


def product_totals(film_id: np.ndarray, origin: np.ndarray, wide: np.ndarray, to_date: np.ndarray,
                   weekly: np.ndarray, pooled: PooledRetention, model: FinalTotalModel) -> pd.DataFrame:
    """FINAL_COLUMNS per window: the final total with the tail chosen on validation films and the
    rule-of-thumb baseline's p50 (``weekly`` [N, 4, 3] dollars, as in ``total_forecasts``)."""
    return pd.DataFrame(product_total_columns(film_id, origin, wide, to_date, weekly, pooled, model), columns=FINAL_COLUMNS)


def product_total_columns(film_id: np.ndarray, origin: np.ndarray, wide: np.ndarray, to_date: np.ndarray,
                          weekly: np.ndarray, pooled: PooledRetention, model: FinalTotalModel) -> dict:
    """``product_totals`` as FINAL_COLUMNS -> array (final_tail: the one tail's name), without the frame,
    which costs more than the arithmetic for the one window the demo forecasts per request."""
    origin = np.asarray(origin, dtype=int)
    chosen, baseline = (_method_totals(name, origin, wide, to_date, weekly, pooled, model) for name in (model.tail, BASELINE))
    return {"film_id": np.asarray(film_id, dtype=str), "origin_week": origin, "gross_to_date": np.asarray(to_date, dtype=float),
            "final_p10": chosen[:, 0], "final_p50": chosen[:, 1], "final_p90": chosen[:, 2], "final_tail": model.tail,
            "multiplier_baseline": baseline[:, 1]}


def total_forecasts(film_id: np.ndarray, origin: np.ndarray, wide: np.ndarray, to_date: np.ndarray,
                    weekly: np.ndarray, pooled: PooledRetention, model: FinalTotalModel,
                    methods: tuple[str, ...] = METHODS) -> pd.DataFrame:
    """One row per window and method (TOTAL_COLUMNS): the final total's p10/p50/p90 in dollars.

    ``weekly`` [N, 4, 3] are the forecaster's weekly p10/p50/p90 in dollars for weeks t+1..t+4;
    ``to_date`` [N] the gross through week t.
    """
    origin = np.asarray(origin, dtype=int)
    frames = []
    for method in methods:
        totals = _method_totals(method, origin, wide, to_date, weekly, pooled, model)
        frames.append(pd.DataFrame({"film_id": np.asarray(film_id, dtype=str), "origin_week": origin,
                                    "release_width": np.where(wide, "wide", "limited"), "to_date": to_date,
                                    "method": method, "p10": totals[:, 0], "p50": totals[:, 1], "p90": totals[:, 2]}))
    return pd.concat(frames, ignore_index=True)[TOTAL_COLUMNS]


def _method_totals(method: str, origin: np.ndarray, wide: np.ndarray, to_date: np.ndarray, weekly: np.ndarray,
                   pooled: PooledRetention, model: FinalTotalModel) -> np.ndarray:
    """[N, 3] the final total's p10/p50/p90 by one method (arrays as in ``total_forecasts``)."""
    if method == BASELINE:
        return to_date[:, None] * model.multipliers.at(wide, origin)
    totals = to_date[:, None] + weekly.sum(axis=1) + _tail(method, weekly, to_date, origin, wide, pooled, model)
    totals = _widened(np.sort(totals, axis=1), origin, model.widening.get(method))
    totals[:, 0] = np.maximum(totals[:, 0], to_date)  # a widened band never goes below what is already grossed
    return totals


def _tail(method: str, weekly: np.ndarray, to_date: np.ndarray, origin: np.ndarray, wide: np.ndarray,
          pooled: PooledRetention, model: FinalTotalModel) -> np.ndarray:
    """[N, 3] the gross after week t+4, per quantile."""
    last = weekly[:, -1, :]  # week t+4
    if method == "decay_pooled":
        # Every step t+4+s -> t+5+s at once (the demo asks for one window per request); running sums add
        # in the order a loop over the steps would.
        week = origin[:, None] + weekly.shape[1] + np.arange(TAIL_END)  # [N, TAIL_END]
        level = np.cumsum(np.where(wide[:, None], pooled.step("wide", week), pooled.step("limited", week)), axis=1)
        factor = np.cumsum(np.where(week < TAIL_END, np.exp(level), 0.0), axis=1)[:, -1]
        return last * factor[:, None]
    if method == "decay_own":
        retention = np.clip(weekly[:, -1, 1] / np.maximum(weekly[:, -2, 1], 1.0), *OWN_RETENTION)
        return last * (retention / (1 - retention))[:, None]
    if method == "multiplier":
        through = to_date[:, None] + weekly.sum(axis=1)
        return through * (model.multipliers.at(wide, origin + weekly.shape[1])[:, 1:2] - 1.0)
    raise ValueError(f"unknown final-total tail {method!r}: use one of {', '.join(TAILS)}")


def _widened(totals: np.ndarray, origin: np.ndarray, widening: list[float] | None) -> np.ndarray:
    if not widening:
        return totals
    amount = np.asarray(widening)[np.clip(origin, 1, len(widening)) - 1]
    out = totals.copy()
    out[:, 0] = np.minimum(totals[:, 0] * np.exp(-amount), totals[:, 1])
    out[:, 2] = np.maximum(totals[:, 2] * np.exp(amount), totals[:, 1])
    return out


def conformal_widening(forecasts: pd.DataFrame, totals: pd.Series, origins: int = 8,
                       coverage: float = COVERAGE) -> dict[str, list[float]]:
    """method -> per origin week 1..``origins``: the log widening of p10/p90 that makes ``coverage`` of
    these (validation) films' final totals fall inside (``metrics.conformal_margin`` in log dollars; an
    origin week with fewer than MIN_FILMS films takes the margin of all origin weeks)."""
    scored = forecasts.assign(actual=forecasts["film_id"].map(totals)).dropna(subset=["actual"])
    scored = scored[(scored["actual"] > 0) & (scored["method"] != BASELINE)]
    scored = scored.assign(log_p10=np.log(scored["p10"].clip(lower=1)), log_p90=np.log(scored["p90"].clip(lower=1)),
                           log_actual=np.log(scored["actual"]))

    def margin(rows: pd.DataFrame) -> float:
        return conformal_margin(rows["log_p10"], rows["log_p90"], rows["log_actual"], coverage)

    widening = {}
    for method, rows in scored.groupby("method"):
        by_origin = dict(tuple(rows.groupby("origin_week")))
        overall = margin(rows)
        widening[method] = [margin(by_origin[t]) if len(by_origin.get(t, ())) >= MIN_FILMS else overall
                            for t in range(1, origins + 1)]
    return widening


def score_totals(forecasts: pd.DataFrame, totals: pd.Series, origins: tuple[int, int] = (1, 8)) -> pd.DataFrame:
    """Per method and origin week (and "all"): films, MAPE, WAPE of the p50 final total, and the share of
    true totals inside [p10, p90]."""
    rows = forecasts[forecasts["origin_week"].between(*origins)]
    rows = rows.assign(actual=rows["film_id"].map(totals)).dropna(subset=["actual"])
    rows = rows[rows["actual"] > 0]

    def summary(group: pd.DataFrame) -> pd.Series:
        actual = group["actual"].to_numpy()
        return pd.Series({"films": len(group), "mape": float((np.abs(group["p50"] - actual) / actual).mean()),
                          "wape": point_errors(group["p50"], actual)["wape"],
                          "coverage_80": interval_coverage(group["p10"], group["p90"], actual)})

    by_origin = rows.groupby(["method", "origin_week"]).apply(summary, include_groups=False).reset_index()
    overall = rows.groupby("method").apply(summary, include_groups=False).reset_index().assign(origin_week="all")
    table = pd.concat([by_origin.astype({"origin_week": str}), overall], ignore_index=True)
    return table.astype({"films": int})[["method", "origin_week", "films", "mape", "wape", "coverage_80"]]


def choose_tail(validation_scores: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """(the tail with the lowest WAPE over every origin week on validation films, tail -> that WAPE)."""
    overall = validation_scores[(validation_scores["origin_week"] == "all") & validation_scores["method"].isin(TAILS)]
    wapes = dict(zip(overall["method"], overall["wape"].astype(float)))
    return min(wapes, key=wapes.get), wapes


def _ratios_by_week(panel: pd.DataFrame, totals: pd.Series) -> pd.DataFrame:
    """One row per film and week of run 1..MAX_WEEK: final total / gross through that week, and the width."""
    films = panel.drop_duplicates("film_id").assign(film_id=lambda f: f["film_id"].astype(str))
    films = films[films["film_id"].isin(totals.index)]
    weeks = np.arange(1, MAX_WEEK + 1)
    film_id = np.repeat(films["film_id"].to_numpy(), MAX_WEEK)
    week = np.tile(weeks, len(films))
    through = gross_to_date(panel, film_id, week)
    ratio = totals.reindex(film_id).to_numpy(dtype=float) / through
    wide = np.repeat(films["opening_theaters"].to_numpy(dtype=float) >= WIDE_RELEASE_THEATERS, MAX_WEEK)
    # only films still running at week w: a forecast from week w is only made for them
    running = week <= panel.groupby(panel["film_id"].astype(str))["week"].max().reindex(film_id).to_numpy()
    frame = pd.DataFrame({"week": week, "ratio": ratio, "wide": wide})
    return frame[running & np.isfinite(frame["ratio"]) & (frame["ratio"] > 0)]


def _quantile_table(ratios: pd.DataFrame, fallback: list[list[float]] | None = None) -> list[list[float]]:
    grouped = ratios.groupby("week")["ratio"]
    table, last = [], [1.0, 1.0, 1.0]
    for week in range(1, MAX_WEEK + 1):
        if week in grouped.groups and len(grouped.get_group(week)) >= MIN_FILMS:
            last = [float(q) for q in np.quantile(grouped.get_group(week), QUANTILES)]
        elif fallback is not None:
            last = fallback[week - 1]
        table.append(last)
    return table
