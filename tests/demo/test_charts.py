"""The demo's interactive charts carry the serving layer's numbers, hover texts a reader needs, and the
log / linear buttons; the Dagster fan chart is a readable SVG. (The browser test draws them.)"""

import re
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest

from cineseq_assets.forecast.plots import fan_chart_svg
from cineseq_assets.forecast.serving import FilmService
from demo import charts


@pytest.fixture(scope="module")
def service(demo_storage):
    return FilmService(demo_storage)


def _long_films(panel: pd.DataFrame, weeks: int = 8, count: int = 5) -> list[str]:
    runs = panel.groupby("film_id")["week"].max()
    return list(runs[runs >= weeks].index[:count])


def _trace(figure, name: str):
    return next(trace for trace in figure.data if trace.name == name)


def test_the_forecast_chart_shows_the_served_numbers_with_dates_in_its_hover(service, forecast_panel):
    forecast = service.forecast(_long_films(forecast_panel)[0], 4)
    figure = charts.forecast_figure(forecast)
    p50 = _trace(figure, "forecast p50")
    table = forecast.table
    anchor = forecast.history.loc[forecast.history["week"] == 4, "gross"].item()
    assert list(p50.x) == [4, *table["week"]] and np.allclose(p50.y, [anchor, *table["p50"]])
    band_low = _trace(figure, "p10-p90")
    assert band_low.fill == "tonexty" and np.allclose(band_low.y[1:], table["p10"])
    # the hover names the week, its dates and the dollars of the band
    start = pd.Timestamp(table["week_start"].iloc[0])
    assert p50.customdata[1][0] == f"{start:%Y-%m-%d} to {start + pd.Timedelta(days=6):%Y-%m-%d}"
    assert np.allclose(p50.customdata[1][1:].astype(float), [table["p10"].iloc[0], table["p90"].iloc[0]])
    assert "$%{y:,.0f}" in p50.hovertemplate and "p10-p90" in p50.hovertemplate
    # what really happened after a backtest's origin, and the decay baseline
    assert list(_trace(figure, "what really happened").x) == list(forecast.history.loc[forecast.history["week"] >= 4, "week"])
    assert np.allclose(_trace(figure, "decay baseline").y[1:], table["decay_baseline"])


def test_the_final_total_is_a_second_panel_and_both_dollar_axes_switch_scale(service, forecast_panel):
    forecast = service.forecast(_long_films(forecast_panel)[0], 0)
    figure = charts.forecast_figure(forecast)
    final = _trace(figure, "final total p50")
    assert final.xaxis == "x2" and final.y[0] == pytest.approx(forecast.final_total["final_p50"])
    assert final.error_y.array[0] == pytest.approx(forecast.final_total["final_p90"] - forecast.final_total["final_p50"])
    assert _trace(figure, "gross to date").y[0] == pytest.approx(forecast.final_total["gross_to_date"])
    assert figure.layout.yaxis.type == "log" and figure.layout.yaxis2.type == "log"
    buttons = {button.label: button.args[0] for button in figure.layout.updatemenus[0].buttons}
    assert buttons == {"Log scale": {"yaxis.type": "log", "yaxis2.type": "log"},
                       "Linear scale": {"yaxis.type": "linear", "yaxis2.type": "linear"}}


def test_compare_aligns_up_to_four_films_by_week_of_run(service, forecast_panel):
    films = _long_films(forecast_panel)
    forecasts = [service.forecast(film, 0) for film in films[:4]]
    figure = charts.compare_figure(forecasts)
    for forecast in forecasts:
        observed = _trace(figure, f"{forecast.title}: observed")
        assert list(observed.x) == list(forecast.history["week"])  # week of run, not calendar time
        assert np.allclose(_trace(figure, f"{forecast.title}: forecast p50").y[1:], forecast.table["p50"])
    with pytest.raises(ValueError, match="compare 1 to 4 films, not 5"):
        charts.compare_figure([service.forecast(film, 0) for film in films[:5]])


def test_explanations_and_the_evaluation_chart(service, forecast_panel):
    forecast = service.forecast(_long_films(forecast_panel)[0], 0)
    explanation = service.explain(forecast)
    bars = charts.attribution_figure(explanation.contributions, "why")
    top = explanation.contributions["attribution"].abs().max()
    assert max(abs(value) for value in bars.data[0].x) == pytest.approx(top)
    heatmap = charts.attention_figure(explanation.attention, forecast.window.encoder_mask[0], forecast.origin_week, "where")
    observed = int((np.asarray(forecast.window.encoder_mask[0]) > 0).sum())
    assert np.asarray(heatmap.data[0].z).shape == (4, observed)
    assert heatmap.data[0].x[-1] == f"week {forecast.origin_week}"

    errors = pd.DataFrame({"split_kind": "by_film", "grouping": "horizon", "seed": [0, 1] * 8,
                           "model": ["seq2seq"] * 8 + ["naive"] * 8, "group": [1, 1, 2, 2, 3, 3, 4, 4] * 2,
                           "wape": [0.1, 0.2, 0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 5, 5, 5, 5, 5, 5, 5, 5]})
    figure = charts.evaluation_figure(errors)
    assert [trace.name for trace in figure.data] == ["seq2seq"]  # the naive forecast is off the scale, and said
    assert np.allclose(figure.data[0].y, [0.15, 0.2, 0.3, 0.4]) and "off the scale: naive" in figure.layout.title.text


def test_the_fan_chart_is_valid_svg_with_the_forecast_band(forecast_panel):
    film = _long_films(forecast_panel)[0]
    history = forecast_panel[forecast_panel["film_id"] == film]
    forecast = pd.DataFrame({"week": [9, 10, 11, 12], "p10": [1e5, 8e4, 6e4, 4e4], "p50": [2e5, 1.5e5, 1e5, 8e4],
                             "p90": [3e5, 2.5e5, 2e5, 1.5e5]})
    svg = fan_chart_svg(history, forecast, 8, "A <film> & co")
    root = ElementTree.fromstring(svg)  # well-formed: the title is escaped
    namespace = "{http://www.w3.org/2000/svg}"
    texts = [element.text for element in root.iter(f"{namespace}text")]
    assert "A <film> & co: forecast from week 8" in texts and "grey: actual" in " ".join(texts)
    band = root.find(f"{namespace}polygon").get("points").split()
    assert len(band) == 2 * 5  # p90 out and p10 back, each from the origin week
    assert any(re.fullmatch(r"\$\d+(k|M)", text or "") for text in texts)  # dollar ticks on the log axis
