"""End to end in a real headless Chromium (the Debian package, driven by Playwright for Python).

Open the page, pick a film, wait for its interactive chart, hover a forecast week for its dollars,
switch the scale, move the origin slider and see the chart change; explain, compare films, a new
film, a trailer, frames and the model tab; a screenshot of each tab in test-artifacts/. No request
may leave 127.0.0.1 (no fonts, no analytics, no CDN: plotly.js comes with Gradio).
"""

import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

from cineseq_assets.storage import asset_path, write_parquet_atomic

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PLOT = ".js-plotly-plot"
TIMEOUT_MS = 60_000


def chromium_executable() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian chromium is not installed: ./scripts/setup.sh installs it (apt-get install chromium)."
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """``open_page(url) -> page``, recording every request that leaves 127.0.0.1; checked at the end."""
    pages, outside = [], []

    def open_(url: str):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda request: outside.append(request.url)
                if urlparse(request.url).hostname not in ("127.0.0.1", "localhost") and
                not request.url.startswith(("data:", "blob:")) else None)
        page.goto(url, wait_until="domcontentloaded")
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()
    assert not outside, f"the page fetched from outside 127.0.0.1: {outside[:5]}"


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"demo_{name}.png"), full_page=True)


def _chart_title(page, chart: str) -> str:
    title = page.locator(f"{chart} {PLOT} .gtitle")
    return title.first.text_content() if title.count() else ""


def _wait_for_new_chart(page, chart: str, previous: str = "") -> str:
    """Wait until ``chart`` shows a plotly figure with data points and a title other than ``previous``."""
    page.wait_for_function(
        "([chart, previous]) => { const plot = document.querySelector(chart + ' .js-plotly-plot');"
        " const title = plot?.querySelector('.gtitle')?.textContent;"
        " return plot && plot.querySelectorAll('.scatterlayer .point, .barlayer .point, .heatmaplayer image').length > 0"
        " && title && title !== previous; }",
        arg=[chart, previous], timeout=TIMEOUT_MS)
    return _chart_title(page, chart)


def _hover_text(page, chart: str, trace: str) -> str:
    """Hover the first point of the trace named ``trace`` in ``chart``; the tooltip's text."""
    index = page.evaluate("([chart, trace]) => document.querySelector(chart + ' .js-plotly-plot')"
                          "._fullData.findIndex(t => t.name === trace)", [chart, trace])
    assert index >= 0, f"no trace named {trace!r} in {chart}"
    point = page.locator(f"{chart} .scatterlayer .trace").nth(index).locator(".point").nth(1)
    point.hover(force=True)
    page.wait_for_selector(f"{chart} .hoverlayer .hovertext", timeout=TIMEOUT_MS)
    return page.locator(f"{chart} .hoverlayer .hovertext").first.text_content()


def _axis_type(page, chart: str) -> str:
    return page.evaluate("(chart) => document.querySelector(chart + ' .js-plotly-plot')._fullLayout.yaxis.type", chart)


def test_pick_a_film_hover_its_forecast_switch_the_scale_and_replay(open_page, demo_url, forecast_panel):
    page = open_page(demo_url)
    # The first showcase film is shown on load.
    first_chart = _wait_for_new_chart(page, "#forecast-chart")
    assert "Serving" in page.locator("#model-status").inner_text(timeout=TIMEOUT_MS)

    # Pick another film by typing its title in the dropdown.
    runs = forecast_panel.groupby("film_id").agg(title=("title", "first"), weeks=("week", "max"))
    title = runs[(runs["weeks"] >= 10) & ~runs["title"].str.contains("[(),&<>]", regex=True)]["title"].iloc[-1]
    dropdown = page.locator("#film input")
    dropdown.click()
    dropdown.fill(title)
    page.get_by_role("option", name=title, exact=False).first.click()
    film_chart = _wait_for_new_chart(page, "#forecast-chart", first_chart)
    assert film_chart.startswith(title) and title in page.locator("#forecast-status").inner_text()
    latest = page.locator("#forecast-status").inner_text()
    final_line = page.locator("#final-total").inner_text()  # under the chart: where the film ends
    assert final_line.startswith("Final domestic total: $") and "multiplier baseline $" in final_line
    final_panel = page.evaluate("() => document.querySelector('#forecast-chart .js-plotly-plot')._fullData"
                                ".filter(t => t.xaxis === 'x2').map(t => t.name)")
    assert "final total p50" in final_panel  # the final-total band, as a second panel

    # Hovering a forecast week shows its dates and dollars, p50 and the p10-p90 band.
    tooltip = _hover_text(page, "#forecast-chart", "forecast p50")
    assert "p50 $" in tooltip and "p10-p90 $" in tooltip and " to " in tooltip and "week " in tooltip

    # Log scale by default; the button switches to linear.
    assert _axis_type(page, "#forecast-chart") == "log"
    page.locator("#forecast-chart .updatemenu-button", has_text="Linear scale").click()
    page.wait_for_function("() => document.querySelector('#forecast-chart .js-plotly-plot')._fullLayout.yaxis.type"
                           " === 'linear'", timeout=TIMEOUT_MS)
    _screenshot(page, "forecast")

    # Drag the origin slider to an early week: the backtest from there replaces the chart.
    slider = page.locator("#origin input[type=range]")
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.15, box["y"] + box["height"] / 2)
    replay_chart = _wait_for_new_chart(page, "#forecast-chart", film_chart)
    assert replay_chart != film_chart
    page.wait_for_function("(previous) => document.querySelector('#forecast-status')?.innerText !== previous",
                           arg=latest, timeout=TIMEOUT_MS)
    assert "backtest" in page.locator("#forecast-status").inner_text()
    assert "week " in _hover_text(page, "#forecast-chart", "what really happened")


def test_explain_compare_new_film_and_model_tabs(open_page, demo_url):
    page = open_page(demo_url)
    _wait_for_new_chart(page, "#forecast-chart")

    page.get_by_role("tab", name="Explain").click()
    page.get_by_role("button", name="Explain the shown forecast").click()
    _wait_for_new_chart(page, "#explain-attention")
    _wait_for_new_chart(page, "#explain-attributions")
    assert "completeness check passed" in page.locator("#explain-note").inner_text()
    _screenshot(page, "explain")

    page.get_by_role("tab", name="Compare films").click()
    page.get_by_role("button", name="Compare", exact=True).click()  # the page's load picked the first two films
    _wait_for_new_chart(page, "#compare-chart")
    names = page.evaluate("() => document.querySelector('#compare-chart .js-plotly-plot')._fullData.map(t => t.name)")
    observed = [name for name in names if name.endswith(": observed")]
    assert len(observed) == 2 and len([name for name in names if name.endswith(": forecast p50")]) == 2
    assert "$" in _hover_text(page, "#compare-chart", observed[0])
    assert page.locator("#compare-note").inner_text().count("from week") == 2
    _screenshot(page, "compare")

    page.get_by_role("tab", name="New film").click()
    page.get_by_role("button", name="Fill in an example (Arrival, 2016)").click()
    page.wait_for_function("() => document.querySelector('#new-film-title textarea, #new-film-title input')?"
                           ".value === 'Arrival'", timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Forecast", exact=True).click()
    assert _wait_for_new_chart(page, "#new-film-chart").startswith("Arrival")
    assert "origin week 3" in page.locator("#new-film-status").inner_text()
    _screenshot(page, "new_film")

    page.get_by_role("tab", name="Model").click()
    page.wait_for_function("() => document.querySelector('#stored-models')?.innerText.includes('seq2seq_attention')",
                           timeout=TIMEOUT_MS)
    _screenshot(page, "model")


def test_the_model_tab_charts_a_stored_evaluation(open_page, fresh_storage, serve_demo):
    storage = fresh_storage()
    # What forecast_evaluation stores, in its columns (the asset's own test checks its numbers).
    rows = [{"split_kind": "by_film", "grouping": grouping, "group": group, "seed": seed, "model": model,
             "wape": base + 0.02 * int(group) + 0.01 * seed, "mae": 1e5, "rmse": 2e5, "coverage_80": 0.8, "n": 100}
            for model, base in (("seq2seq", 0.15), ("pooled_decay", 0.3)) for seed in (0, 1)
            for grouping, group in [("overall", "0"), *(("horizon", str(horizon)) for horizon in range(1, 5))]]
    write_parquet_atomic(pd.DataFrame(rows), asset_path("forecast_evaluation", root=storage))
    page = open_page(serve_demo(storage))
    page.get_by_role("tab", name="Model").click()
    assert _wait_for_new_chart(page, "#evaluation-chart").startswith("Test WAPE by horizon")
    assert "WAPE 0.1" in _hover_text(page, "#evaluation-chart", "seq2seq")


@pytest.mark.filterwarnings("ignore:no trained emotion student")  # the test storage has none: the teacher serves
def test_trailer_upload_shows_its_arc_and_embedding(open_page, demo_url, media):
    page = open_page(demo_url)
    page.get_by_role("tab", name="Trailer").click()
    # The note is filled by a load event: until then it may show Gradio's progress timer.
    page.wait_for_function("() => document.querySelector('#trailer-note')?.innerText.includes('Trailer models found')",
                           timeout=TIMEOUT_MS)
    page.locator("#trailer-video input[type=file]").set_input_files(str(media / "single_face.mp4"))
    page.get_by_role("button", name="Analyse").click()
    _wait_for_new_chart(page, "#trailer-chart")
    assert "realtime factor" in page.locator("#trailer-summary").inner_text()
    assert "valence_mean" in page.locator("#trailer-embedding").inner_text()
    # where valence and arousal coincide the tooltip may name either: the nearest point wins
    assert re.fullmatch(r"[\d.]+ s: (valence|arousal) -?[\d.]+", _hover_text(page, "#trailer-chart", "valence"))
    _screenshot(page, "trailer")


def test_frames_tab_classifies_an_uploaded_image(open_page, demo_url, media):
    page = open_page(demo_url)
    page.get_by_role("tab", name="Frames").click()
    page.wait_for_function("() => document.querySelector('#frames-note')?.innerText.includes('Upload a poster')",
                           timeout=TIMEOUT_MS)
    page.locator("#frames-upload input[type=file]").set_input_files(str(media / "newton.png"))
    page.get_by_role("button", name="Classify").click()
    assert _wait_for_new_chart(page, "#frames-chart") == "newton.png"
    summary = page.locator("#frames-summary").inner_text()
    assert "Budget class:" in summary and "From 1 image" in summary
    _screenshot(page, "frames")


def test_without_a_model_the_page_says_how_to_materialize(open_page, fresh_storage, serve_demo):
    from cineseq_assets.forecast.store import model_dir

    storage = fresh_storage("seq2seq", models={})
    assert not (model_dir(storage) / "serving.json").exists()  # no model, nothing published
    page = open_page(serve_demo(storage))
    status = page.locator("#model-status")
    page.wait_for_function("() => document.querySelector('#model-status')?.innerText.includes('No forecaster')",
                           timeout=TIMEOUT_MS)
    assert "cineseq run" in status.inner_text()
    # picking a film then shows the same advice as an error toast, never a stack trace
    page.wait_for_selector(".toast-body, .toast-wrap", timeout=TIMEOUT_MS)
    assert "Traceback" not in page.content()
    page.get_by_role("tab", name="Frames").click()  # no frame classifier in this storage either
    page.wait_for_function("() => document.querySelector('#frames-note')?.innerText.includes('No frame classifier')",
                           timeout=TIMEOUT_MS)
