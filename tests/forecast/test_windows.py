"""Forecast windows: shapes, masking of short histories, no crossing of films, no look-ahead."""

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.forecast.decay_prior import PooledRetention, PriorConfig
from cineseq_assets.forecast.features import (
    DECODER_FEATURES,
    ENCODER_FEATURES,
    HORIZON,
    MARKET_DECODER_FEATURES,
    MARKET_ENCODER_FEATURES,
    STATIC_FEATURES,
    static_vector,
)
from cineseq_assets.forecast.windows import build_windows

LOG_GROSS = ENCODER_FEATURES.index("log_gross")


@pytest.fixture(scope="module")
def windows(forecast_panel):
    pooled = PooledRetention.fit(forecast_panel)
    return build_windows(forecast_panel, encoder_length=8).with_prior(pooled)


def test_shapes_follow_the_feature_schema(windows):
    n = len(windows)
    assert windows.encoder.shape == (n, 8, len(ENCODER_FEATURES))
    assert windows.decoder.shape == (n, HORIZON, len(DECODER_FEATURES))
    assert windows.static.shape == (n, len(STATIC_FEATURES))
    assert windows.target.shape == windows.target_mask.shape == windows.prior.shape == (n, HORIZON)
    assert np.isfinite(windows.encoder).all() and np.isfinite(windows.decoder).all() and np.isfinite(windows.static).all()


def test_short_histories_are_masked_not_padded_with_data(windows):
    early = windows.origin == 3
    assert early.any()
    # Origin week 3 with an 8-week encoder: 5 padded steps (mask 0, all-zero inputs), then weeks 1-3.
    assert (windows.encoder_mask[early] == np.array([0, 0, 0, 0, 0, 1, 1, 1])).all()
    assert (windows.encoder[early][:, :5] == 0).all()
    assert (windows.encoder_mask.sum(axis=1) == np.minimum(windows.origin, 8)).all()


def test_windows_never_cross_films(forecast_panel, windows):
    gross = forecast_panel.set_index(["film_id", "week"])["gross"]
    for i in np.random.default_rng(0).choice(len(windows), 200, replace=False):
        film, t = windows.film_id[i], int(windows.origin[i])
        observed = windows.encoder_mask[i] > 0
        weeks = np.arange(t - observed.sum() + 1, t + 1)
        expected = np.log1p(gross.loc[film].loc[weeks].to_numpy())
        np.testing.assert_allclose(windows.encoder[i, observed, LOG_GROSS], expected)
        for h in range(HORIZON):
            if windows.target_mask[i, h]:
                assert np.isclose(windows.target[i, h], np.log1p(gross.loc[(film, t + h + 1)]))
            else:
                assert (film, t + h + 1) not in gross.index  # the run ended: masked, not zero-filled


def test_the_decay_prior_reads_only_the_encoder_window(forecast_panel):
    """Changing a film's weeks after the origin (or before the window) leaves its prior unchanged."""
    pooled = PooledRetention.fit(forecast_panel)
    film = forecast_panel[forecast_panel["film_id"] == forecast_panel["film_id"].iloc[0]]
    base = build_windows(film, encoder_length=3, origins=(5, 5)).with_prior(pooled)
    changed = film.copy()
    changed.loc[changed["week"] > 5, "gross"] *= 10  # the future
    changed.loc[changed["week"] < 3, "gross"] *= 0.1  # before the 3-week window
    after = build_windows(changed, encoder_length=3, origins=(5, 5)).with_prior(pooled)
    np.testing.assert_allclose(after.prior, base.prior)
    inside = film.copy()
    inside.loc[inside["week"] == 4, "gross"] *= 2  # inside the window: the prior must move
    moved = build_windows(inside, encoder_length=3, origins=(5, 5)).with_prior(pooled, PriorConfig(adjust=True))
    assert not np.allclose(moved.prior, base.prior)


def test_windows_are_invariant_to_data_after_the_origin(forecast_panel):
    """The window at origin t is the same whether the film's run is cut at t or not."""
    film_id = forecast_panel.groupby("film_id")["week"].max().idxmax()
    film = forecast_panel[forecast_panel["film_id"] == film_id]
    full = build_windows(film, min_targets=0)
    for t in (1, 4, 7):
        cut = build_windows(film[film["week"] <= t], min_targets=0)
        i, j = np.flatnonzero(full.origin == t)[0], np.flatnonzero(cut.origin == t)[0]
        for name in ("encoder", "encoder_mask", "decoder", "static"):
            np.testing.assert_array_equal(getattr(full, name)[i], getattr(cut, name)[j])


def test_missing_metadata_is_flagged_not_imputed():
    row = {"film_id": "x", "release_date": pd.Timestamp("2015-06-05"), "opening_theaters": 3000.0,
           "log_budget": np.nan, "runtime": np.nan, "genres": np.nan, "mpaa": np.nan, "distributor": "Someone",
           "has_trends": 0}
    vector = dict(zip(STATIC_FEATURES, static_vector(row)))
    assert vector["has_budget"] == 0 and vector["log_budget"] == 0
    assert vector["has_genres"] == 0 and vector["has_mpaa"] == 0 and vector["has_trailer"] == 0
    assert vector["distributor_other"] == 1
    known = dict(zip(STATIC_FEATURES, static_vector(row | {"log_budget": 17.0, "genres": "Drama|Horror", "mpaa": "R"})))
    assert known["has_budget"] == 1 and known["log_budget"] == 17.0
    assert known["genre_Drama"] == known["genre_Horror"] == known["mpaa_R"] == 1


def test_trailer_embedding_is_used_when_a_film_has_one(forecast_panel):
    film_id = forecast_panel["film_id"].iloc[0]
    trailers = pd.DataFrame([{"film_id": film_id, "has_trailer": 1, "valence_mean": 0.3, "arousal_mean": 0.6}])
    windows = build_windows(forecast_panel, trailers=trailers)
    flag = STATIC_FEATURES.index("has_trailer")
    valence = STATIC_FEATURES.index("trailer_valence_mean")
    own = windows.film_id == film_id
    assert (windows.static[own, flag] == 1).all() and (windows.static[own, valence] == 0.3).all()
    assert (windows.static[~own, flag] == 0).all() and (windows.static[~own, valence] == 0).all()


def test_frame_predictions_are_static_features_when_a_film_has_them(forecast_panel):
    """Merged trailer inputs: one film has only frame predictions, another only an emotion embedding;
    the merge leaves NaN flags, which must read as 'missing', not as set."""
    first, second = forecast_panel["film_id"].unique()[:2]
    frames = pd.DataFrame([{"film_id": first, "has_frames": 1, "frame_genre_Horror": 0.8, "frame_expected_budget_class": 2.5}])
    emotion = pd.DataFrame([{"film_id": second, "has_trailer": 1, "valence_mean": 0.3}])
    windows = build_windows(forecast_panel, trailers=frames.merge(emotion, on="film_id", how="outer"))
    column = {name: STATIC_FEATURES.index(name) for name in
              ("has_frames", "frame_genre_Horror", "frame_expected_budget_class", "has_trailer", "frame_genre_Drama")}
    own, other = windows.film_id == first, windows.film_id == second
    assert (windows.static[own, column["has_frames"]] == 1).all() and (windows.static[own, column["has_trailer"]] == 0).all()
    assert (windows.static[own, column["frame_genre_Horror"]] == 0.8).all()
    assert (windows.static[own, column["frame_expected_budget_class"]] == 2.5).all()
    assert (windows.static[own, column["frame_genre_Drama"]] == 0).all()  # not predicted: zero, flag still set
    assert (windows.static[other, column["has_frames"]] == 0).all() and (windows.static[other, column["has_trailer"]] == 1).all()


def test_without_market_hides_the_market_group_and_nothing_else(forecast_panel):
    windows = build_windows(forecast_panel)
    hidden = windows.without_market()
    market_enc = [ENCODER_FEATURES.index(name) for name in MARKET_ENCODER_FEATURES]
    market_dec = [DECODER_FEATURES.index(name) for name in MARKET_DECODER_FEATURES]
    assert windows.encoder[:, :, market_enc].any() and not hidden.encoder[:, :, market_enc].any()
    assert windows.decoder[:, :, market_dec].any() and not hidden.decoder[:, :, market_dec].any()
    others = [i for i in range(len(ENCODER_FEATURES)) if i not in market_enc]
    np.testing.assert_array_equal(hidden.encoder[:, :, others], windows.encoder[:, :, others])
    np.testing.assert_array_equal(hidden.static, windows.static)


def test_the_shape_of_the_week_is_read_from_its_days_and_flagged_when_unknown(forecast_panel):
    from cineseq_assets.forecast.features import DAY_SHARES, INTRAWEEK, intraweek_frame

    rows = forecast_panel.head(12).copy()
    days = np.arange(1, 8, dtype=float)
    for k in range(1, 8):
        rows[f"day_gross_{k}"] = days[k - 1] * rows["gross"] / days.sum()
    rows["weekend_share"] = 0.6
    rows.loc[rows.index[3], "day_gross_5"] = np.nan  # one day missing from the chart
    frame = intraweek_frame(rows)
    known = frame.drop(index=rows.index[3])
    np.testing.assert_allclose(known[DAY_SHARES].sum(axis=1), 1.0)
    np.testing.assert_allclose(known["day_share_7"], 7 / 28)
    assert (known["has_daily"] == 1).all() and (known["weekend_share"] == 0.6).all()
    missing = frame.loc[rows.index[3]]
    assert missing["has_daily"] == 0 and (missing[[*INTRAWEEK, *DAY_SHARES]] == 0).all()
    day_columns = [c for c in forecast_panel if c.startswith("day_gross")]
    weekly_source = intraweek_frame(forecast_panel.head(12).drop(columns=day_columns))
    assert (weekly_source["has_daily"] == 0).all() and (weekly_source.drop(columns="has_daily") == 0).all().all()
