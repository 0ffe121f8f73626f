"""Per-film log-linear decay fits: log(weekly gross) = intercept + decay_rate * week.

After opening, a film's weekly gross falls roughly geometrically, so the log of it is close to a
straight line in the week number. Each film gets two fits:

* ``run``: every usable week (full weeks from opening up to the first partial one), and
* ``weeks_1_8``: the usable weeks among weeks 1-8, the window of the dataset's own quality check
  (SOURCE.md: wide openers median R^2 0.98 and slope -0.65/week).

Point estimates come from statsmodels OLS; the unit-root tests (``adfuller``) and the residual
correlograms (``acf``/``pacf``) are statsmodels too. Conventions, all fixed here:

* Weeks with zero, negative or missing gross are dropped before the fit (their log is undefined)
  and listed in ``notes``; they are never logged and never imputed.
* A fit needs ``MIN_FIT_WEEKS`` weeks. With fewer, every statistic is NaN and the lists are empty.
* ``half_life_weeks`` is ``ln 2 / -decay_rate`` when the fit decays (slope < 0), ``+inf`` when it
  does not (slope >= 0: gross never halves on this trend, e.g. a platform release still
  expanding), and NaN when there is no fit.
* ``residuals`` and ``fitted`` are in natural-log dollars, one per entry of ``weeks``.
* ``acf``/``pacf`` and their confidence bounds are statsmodels' arrays for lags 0..nlags (entry i
  is lag i; lag 0 is always 1). The bounds are centred on the estimate, as statsmodels returns them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tsa.stattools import acf, adfuller, pacf

WINDOWS = ("run", "weeks_1_8")
FIRST_WEEKS = 8  # last week of the "weeks_1_8" window

# Two points always lie on a line: a third week is the least that leaves a residual degree of
# freedom, so that the slope's standard error and R^2 say something.
MIN_FIT_WEEKS = 3

# ADF regressions on a handful of points are unstable; 8 weeks is the shortest series tested, so
# the weeks 1-8 window of a film with 8 full weeks gets a test and shorter series get NaN.
MIN_ADF_WEEKS = 8

# Correlograms: at most this many lags, and never more than n//2 - 1 (pacf's own limit).
MAX_CORRELOGRAM_LAGS = 10

ALPHA = 0.05
EXACT_FIT_TOLERANCE = 1e-10  # residual sd relative to the sd of log gross that counts as zero

FIT_COLUMNS = [
    "film_id",
    "window",
    "n_weeks",
    "intercept",
    "decay_rate",
    "decay_rate_se",
    "weekly_retention",
    "half_life_weeks",
    "r2",
    "adf_stat_log_gross",
    "adf_pvalue_log_gross",
    "adf_stat_resid",
    "adf_pvalue_resid",
    "residuals",
    "fitted",
    "weeks",
    "acf",
    "pacf",
    "acf_confint_low",
    "acf_confint_high",
    "pacf_confint_low",
    "pacf_confint_high",
    "notes",
]
LIST_COLUMNS = FIT_COLUMNS[FIT_COLUMNS.index("residuals") : FIT_COLUMNS.index("notes")]
_NAN_STATS = [c for c in FIT_COLUMNS[2:] if c not in LIST_COLUMNS and c not in ("n_weeks", "notes")]


def fit_film_decay(weeks: pd.DataFrame, film_id: str) -> pd.DataFrame:
    """Fit log-linear decay to one film's usable weeks; one row per window (``run``, ``weeks_1_8``).

    ``weeks`` needs columns ``week`` and ``gross``; if it carries the weekly table's ``usable``
    flag, rows outside the usable run are ignored. Columns of the result: ``FIT_COLUMNS``.
    """
    return pd.DataFrame(fit_film_decay_rows(weeks, film_id), columns=FIT_COLUMNS)


def fit_all_films(weekly: pd.DataFrame) -> pd.DataFrame:
    """Decay fits for every film of the weekly table (usable weeks only), two rows per film.

    Builds one DataFrame at the end rather than one per film: per-film frames cost more than the fits.
    """
    usable = weekly[weekly["usable"]] if "usable" in weekly else weekly
    rows: list[dict] = []
    for film_id, film_weeks in usable.groupby("film_id", sort=True):
        rows.extend(fit_film_decay_rows(film_weeks, str(film_id)))
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def fit_film_decay_rows(weeks: pd.DataFrame, film_id: str) -> list[dict]:
    """The two fit rows of ``fit_film_decay`` as plain dicts (cheap to collect for many films)."""
    if "usable" in weeks:
        weeks = weeks[weeks["usable"].astype(bool)]
    week, gross = weeks["week"].to_numpy(dtype=int), weeks["gross"].to_numpy(dtype=float)
    order = np.argsort(week, kind="stable")
    week, gross = week[order], gross[order]
    valid = np.isfinite(gross) & (gross > 0)
    dropped_note = _dropped_weeks_note(week[~valid], gross[~valid])
    week, log_gross = week[valid], np.log(gross[valid])

    run = _fit_window(week, log_gross, film_id, "run", dropped_note)
    in_first_weeks = week <= FIRST_WEEKS
    if in_first_weeks.all():  # short run: the weeks 1-8 window is the same fit
        first = {key: list(value) if isinstance(value, list) else value for key, value in run.items()}
        first["window"] = "weeks_1_8"
    else:
        first = _fit_window(week[in_first_weeks], log_gross[in_first_weeks], film_id, "weeks_1_8", dropped_note)
    return [run, first]


def half_life(decay_rate: float) -> float:
    """Weeks for gross to halve on the fitted trend: ln 2 / -rate; +inf if not decaying; NaN if unknown."""
    if not np.isfinite(decay_rate):
        return np.nan
    return np.log(2.0) / -decay_rate if decay_rate < 0 else np.inf


def adf_maxlag(n_obs: int) -> int:
    """Augmentation lags for the ADF test on a short weekly series (fixed, no autolag search).

    Each lag costs an observation and a regressor, and a 'ct' regression on 8 points has few
    degrees of freedom to spare: plain Dickey-Fuller (0 lags) below 12 weeks, 1 lag up to 23
    weeks, 2 beyond. Autolag would also be ~8x slower (7 ms vs 0.8 ms on a 25-week run): it
    refits the regression once per candidate lag.
    """
    return min(2, n_obs // 12)


def correlogram_nlags(n_obs: int) -> int:
    """Lags for acf/pacf: at most MAX_CORRELOGRAM_LAGS and below n/2 (pacf's limit); 0 means none."""
    return max(0, min(MAX_CORRELOGRAM_LAGS, n_obs // 2 - 1))


def _fit_window(week: np.ndarray, log_gross: np.ndarray, film_id: str, window: str, dropped_note: str) -> dict:
    """OLS of log gross on week for one window, plus its residual diagnostics."""
    notes = [dropped_note] if dropped_note else []
    row = _empty_row(film_id, window, len(week))
    if len(week) < MIN_FIT_WEEKS:
        notes.append(f"no fit: {len(week)} week(s) with positive gross, need {MIN_FIT_WEEKS}")
        row["notes"] = "; ".join(notes)
        return row

    design = np.column_stack([np.ones(len(week)), week.astype(float)])
    ols = sm.OLS(log_gross, design).fit()
    slope = float(ols.params[1])
    residuals = np.asarray(ols.resid)
    row.update(
        intercept=float(ols.params[0]),
        decay_rate=slope,
        decay_rate_se=float(ols.bse[1]),
        weekly_retention=float(np.exp(slope)),
        half_life_weeks=half_life(slope),
        r2=float(ols.rsquared),
        residuals=residuals.tolist(),
        fitted=np.asarray(ols.fittedvalues).tolist(),
        weeks=[int(w) for w in week],
    )
    if _is_exact_fit(residuals, log_gross):
        # An exact line leaves nothing to test: ADF's regressors become collinear and the
        # correlogram divides by a zero variance.
        notes.append("exact log-linear fit: residuals are numerically zero, no ADF or correlogram")
    else:
        row.update(_adf_columns(log_gross, residuals, notes))
        row.update(_correlogram_columns(residuals, notes))
    row["notes"] = "; ".join(notes)
    return row


def _adf_columns(log_gross: np.ndarray, residuals: np.ndarray, notes: list[str]) -> dict:
    """ADF on log gross (trend alternative: it decays by construction) and on the residuals."""
    n_obs = len(log_gross)
    if n_obs < MIN_ADF_WEEKS:
        notes.append(f"no ADF: {n_obs} weeks, need {MIN_ADF_WEEKS}")
        return {}
    maxlag = adf_maxlag(n_obs)
    stat_level, p_level = _adf(log_gross, "ct", maxlag, notes, "log gross")
    stat_resid, p_resid = _adf(residuals, "c", maxlag, notes, "residuals")
    return {
        "adf_stat_log_gross": stat_level,
        "adf_pvalue_log_gross": p_level,
        "adf_stat_resid": stat_resid,
        "adf_pvalue_resid": p_resid,
    }


def _adf(series: np.ndarray, regression: str, maxlag: int, notes: list[str], label: str) -> tuple[float, float]:
    """One adfuller call with a fixed lag; a failure becomes NaN plus a note, never an exception."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tiny-sample runtime warnings: the NaN speaks for itself
            result = adfuller(series, maxlag=maxlag, regression=regression, autolag=None, result_object=True)
    except (ValueError, np.linalg.LinAlgError) as error:
        notes.append(f"no ADF on {label}: {error}")
        return np.nan, np.nan
    return float(result.statistic), float(result.pvalue)


def _correlogram_columns(residuals: np.ndarray, notes: list[str]) -> dict:
    """Residual ACF and PACF with their 95% bounds, for lags 0..nlags."""
    nlags = correlogram_nlags(len(residuals))
    if nlags < 1:
        notes.append(f"no correlogram: {len(residuals)} weeks, need 4")
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acf_result = acf(residuals, nlags=nlags, alpha=ALPHA, fft=False, result_object=True)
        # Yule-Walker with the MLE denominator keeps |pacf| < 1 on short series, where the
        # default (adjusted) estimator can leave [-1, 1].
        pacf_result = pacf(residuals, nlags=nlags, alpha=ALPHA, method="ywm", result_object=True)
    return {
        "acf": acf_result.acf.tolist(),
        "pacf": pacf_result.pacf.tolist(),
        "acf_confint_low": acf_result.confint[:, 0].tolist(),
        "acf_confint_high": acf_result.confint[:, 1].tolist(),
        "pacf_confint_low": pacf_result.confint[:, 0].tolist(),
        "pacf_confint_high": pacf_result.confint[:, 1].tolist(),
    }


def _is_exact_fit(residuals: np.ndarray, log_gross: np.ndarray) -> bool:
    scale = max(float(np.std(log_gross)), 1.0)
    return float(np.std(residuals)) <= EXACT_FIT_TOLERANCE * scale


def _dropped_weeks_note(weeks: np.ndarray, gross: np.ndarray) -> str:
    if len(weeks) == 0:
        return ""
    zero = [int(w) for w, g in zip(weeks, gross) if np.isfinite(g)]
    missing = [int(w) for w, g in zip(weeks, gross) if not np.isfinite(g)]
    parts = []
    if zero:
        parts.append(f"dropped week(s) {zero}: gross <= 0 has no log")
    if missing:
        parts.append(f"dropped week(s) {missing}: gross missing")
    return "; ".join(parts)


def _empty_row(film_id: str, window: str, n_weeks: int) -> dict:
    row: dict = {"film_id": film_id, "window": window, "n_weeks": int(n_weeks)}
    row.update({column: np.nan for column in _NAN_STATS})
    row.update({column: [] for column in LIST_COLUMNS})
    row["notes"] = ""
    return row
