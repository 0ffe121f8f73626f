"""The band's recent calibration: widen p10/p90 by what the latest known outcomes of held-out films say.

A band calibrated once on the validation films covers 80% of new films only while new films behave
like those. Out of time they did not: trained before 2018 and calibrated on pre-2018 validation films,
the band covered 0.68 of the 2018-2023 forecasts (0.42-0.58 in 2020-2022). What a forecaster can know
at the moment it forecasts is how its forecasts of films it never trained on have turned out lately.
So the margin at a date is the split-conformal margin (``metrics.conformal_quantile``) of the outcomes
that became known in the ``RECENT_WEEKS`` before it, per horizon (or the latest ``MIN_OUTCOMES`` when
that span holds fewer), added to the band the model serves (conformal calibration on the
already-calibrated band: only the recent drift is added). Before ``MIN_OUTCOMES`` outcomes are known
at all the margin is 0: the model's own band stands.

Which held-out films: the served model's validation films (the only films it never trained on); the
evaluation also counts the test films whose outcomes were known before each forecast, as a forecaster
deployed at the split (out of time: in 2018) and never retrained would see them week after week.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import conformal_quantile

RECENT_WEEKS = 52  # measured out of time: 8 weeks 0.76, 13 0.77, 26 0.79, 52 0.80 coverage (docs/forecasting.md)
# Per horizon: a span that holds fewer reaches further back for the latest this many; until this many are
# known at all, the margin is 0. The served model's validation films give 29-56 outcomes per horizon in
# the bundled data's last year, too few for a steady 80% quantile on their own.
MIN_OUTCOMES = 150
DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class Outcomes:
    """Known outcomes of earlier forecasts: when each became known, its horizon (0-based), and its CQR score
    (how far the actual fell outside the band, negative inside; log units)."""

    known: np.ndarray  # datetime64[D]
    horizon: np.ndarray  # int
    score: np.ndarray  # float

    @classmethod
    def of(cls, windows, log_quantiles: np.ndarray) -> "Outcomes":
        """The outcomes of ``windows``' forecasts (forecast.windows.Windows: made after week t, which starts
        on ``origin_week_start``, for weeks t+1..t+H) with the served quantiles ``log_quantiles`` [N, H, 3]:
        week t+h's outcome is known once that week ends, 7 (h + 1) days after week t starts."""
        target = windows.target
        n, horizons = target.shape
        horizon = np.tile(np.arange(horizons), n)
        known = np.repeat(np.asarray(windows.origin_week_start, dtype="datetime64[D]"), horizons) + 7 * (horizon + 1) * DAY
        scores = np.maximum(log_quantiles[..., 0] - target, target - log_quantiles[..., 2]).reshape(-1)
        kept = (np.asarray(windows.target_mask).reshape(-1) > 0) & np.isfinite(scores)  # a forecast without a band has no score
        return cls(known[kept], horizon[kept], scores[kept].astype(float))

    def __add__(self, other: "Outcomes") -> "Outcomes":
        return Outcomes(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in ("known", "horizon", "score")))


@dataclass(frozen=True)
class RecentCalibration:
    """Margins per week: ``margins[w, h]`` widens the horizon-h band of forecasts made from ``weeks[w]``
    up to the next week (log units); a forecast after the last week takes the last margins, one before
    the first takes none."""

    weeks: np.ndarray  # datetime64[D], every 7 days
    margins: np.ndarray  # [W, H]

    @classmethod
    def fit(cls, outcomes: Outcomes, horizons: int, coverage: float = 0.8, recent_weeks: int = RECENT_WEEKS,
            min_outcomes: int = MIN_OUTCOMES) -> "RecentCalibration":
        """Margins every 7 days from the first outcome's day to the last's, each from the outcomes known by then."""
        if not len(outcomes.known):
            return cls(np.zeros(0, dtype="datetime64[D]"), np.zeros((0, horizons)))
        weeks = np.arange(outcomes.known.min(), outcomes.known.max() + 7 * DAY, 7 * DAY)
        margins = np.zeros((len(weeks), horizons))
        for h in range(horizons):
            mine = outcomes.horizon == h
            order = np.argsort(outcomes.known[mine], kind="stable")
            known, score = outcomes.known[mine][order], outcomes.score[mine][order]
            last = np.searchsorted(known, weeks, side="right")  # outcomes known by that day
            first = np.minimum(np.searchsorted(known, weeks - 7 * recent_weeks * DAY, side="right"), last - min_outcomes)
            for w, (start, stop) in enumerate(zip(first, last)):
                if start >= 0:
                    margins[w, h] = conformal_quantile(score[start:stop], coverage)
        return cls(weeks, margins)

    def at(self, forecast_dates: np.ndarray) -> np.ndarray:
        """[N, H] margins of forecasts made on ``forecast_dates`` (0 before the first week)."""
        dates = np.asarray(forecast_dates, dtype="datetime64[D]")
        if not len(self.weeks):
            return np.zeros((len(dates), self.margins.shape[1]))
        index = np.searchsorted(self.weeks, dates, side="right") - 1
        return np.where((index >= 0)[:, None], self.margins[np.clip(index, 0, None)], 0.0)

    def latest(self) -> dict:
        """What a forecast after the last known outcome gets: the week its margins date from, and them."""
        if not len(self.weeks):
            return {"from_week": None, "margins": [0.0] * self.margins.shape[1]}
        return {"from_week": str(self.weeks[-1]), "margins": [round(float(m), 4) for m in self.margins[-1]]}

    def to_dict(self) -> dict:
        start = str(self.weeks[0]) if len(self.weeks) else None
        return {"first_week": start, "horizons": self.margins.shape[1], "margins": np.round(self.margins, 5).tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> "RecentCalibration":
        margins = np.asarray(data["margins"], dtype=float).reshape(-1, int(data["horizons"]))
        if not np.isfinite(margins).all():
            raise ValueError("the recent calibration holds a margin that is not a finite number")
        start = np.datetime64(data["first_week"] or "1970-01-01", "D")
        return cls(start + 7 * DAY * np.arange(len(margins)), margins)


def recent_widening(held_out: list[tuple[object, np.ndarray]]) -> RecentCalibration:
    """The recent calibration from the outcomes of forecasts of held-out films: (windows, their served
    log quantiles) pairs, e.g. the validation films' and the test films'."""
    outcomes = [Outcomes.of(windows, quantiles) for windows, quantiles in held_out]
    return RecentCalibration.fit(sum(outcomes[1:], outcomes[0]), held_out[0][0].target.shape[1])


def forecast_dates(origin_week_start: np.ndarray) -> np.ndarray:
    """A window's forecast is made once its origin week has ended."""
    return np.asarray(origin_week_start, dtype="datetime64[D]") + 7 * DAY
