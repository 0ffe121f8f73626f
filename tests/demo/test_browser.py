"""End to end in a real headless Chromium (the Debian package, driven by Playwright for Python).

Open the page, pick a film, wait for its forecast chart, move the origin slider, check that the
chart changed, and keep a screenshot in test-artifacts/. No request may leave 127.0.0.1
(no fonts, no analytics, no CDN).
"""

import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHART_IMAGE = "#forecast-chart img"
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


def _chart_source(page) -> str:
    return page.locator(CHART_IMAGE).first.get_attribute("src") or ""


def _wait_for_new_chart(page, previous: str) -> str:
    page.wait_for_function(
        "([selector, previous]) => { const img = document.querySelector(selector);"
        " return img && img.src && img.src !== previous && img.complete && img.naturalWidth > 0; }",
        arg=[CHART_IMAGE, previous], timeout=TIMEOUT_MS)
    return _chart_source(page)


def test_pick_a_film_then_replay_from_another_origin(browser, demo_url, forecast_panel):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside = []
    page.on("request", lambda request: outside.append(request.url)
            if urlparse(request.url).hostname not in ("127.0.0.1", "localhost") and
            not request.url.startswith(("data:", "blob:")) else None)
    page.goto(demo_url, wait_until="domcontentloaded")

    # The first showcase film is shown on load.
    first_chart = _wait_for_new_chart(page, "")
    status = page.locator("#model-status")
    assert "Serving" in status.inner_text(timeout=TIMEOUT_MS)

    # Pick another film by typing its title in the dropdown.
    runs = forecast_panel.groupby("film_id").agg(title=("title", "first"), weeks=("week", "max"))
    title = runs[(runs["weeks"] >= 10) & ~runs["title"].str.contains("[(),]", regex=True)]["title"].iloc[-1]
    dropdown = page.locator("#film input")
    dropdown.click()
    dropdown.fill(title)
    page.get_by_role("option", name=title, exact=False).first.click()
    film_chart = _wait_for_new_chart(page, first_chart)
    assert title in page.locator("#forecast-status").inner_text()
    latest = page.locator("#forecast-status").inner_text()
    final_line = page.locator("#final-total").inner_text()  # under the chart: where the film ends
    assert final_line.startswith("Final domestic total: $") and "multiplier baseline $" in final_line

    # Drag the origin slider to an early week: the backtest from there replaces the chart.
    slider = page.locator("#origin input[type=range]")
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.15, box["y"] + box["height"] / 2)
    replay_chart = _wait_for_new_chart(page, film_chart)
    assert replay_chart != film_chart
    page.wait_for_function("(previous) => document.querySelector('#forecast-status')?.innerText !== previous",
                           arg=latest, timeout=TIMEOUT_MS)
    assert "backtest" in page.locator("#forecast-status").inner_text()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo_forecast.png"), full_page=True)
    assert not outside, f"the page fetched from outside 127.0.0.1: {outside[:5]}"
    page.close()


def test_explain_new_film_and_model_tabs(browser, demo_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(demo_url, wait_until="domcontentloaded")
    _wait_for_new_chart(page, "")

    page.get_by_role("tab", name="Explain").click()
    page.get_by_role("button", name="Explain the shown forecast").click()
    page.wait_for_function("() => document.querySelectorAll('#explain-attention img, #explain-attributions img')"
                           ".length == 2", timeout=TIMEOUT_MS)
    assert "completeness check passed" in page.locator("#explain-note").inner_text()

    page.get_by_role("tab", name="New film").click()
    page.get_by_role("button", name="Fill in an example (Arrival, 2016)").click()
    page.wait_for_function("() => document.querySelector('#new-film-title textarea, #new-film-title input')?"
                           ".value === 'Arrival'", timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Forecast", exact=True).click()
    page.wait_for_selector("#new-film-chart img", timeout=TIMEOUT_MS)
    assert "origin week 3" in page.locator("#new-film-status").inner_text()

    page.get_by_role("tab", name="Model").click()
    page.wait_for_function("() => document.querySelector('#stored-models')?.innerText.includes('seq2seq_attention')",
                           timeout=TIMEOUT_MS)
    page.close()


@pytest.mark.filterwarnings("ignore:no trained emotion student")  # the test storage has none: the teacher serves
def test_trailer_upload_shows_its_arc_and_embedding(browser, demo_url, media):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(demo_url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Trailer").click()
    # The note is filled by a load event: until then it may show Gradio's progress timer.
    page.wait_for_function("() => document.querySelector('#trailer-note')?.innerText.includes('Trailer models found')",
                           timeout=TIMEOUT_MS)
    page.locator("#trailer-video input[type=file]").set_input_files(str(media / "single_face.mp4"))
    page.get_by_role("button", name="Analyse").click()
    page.wait_for_selector("#trailer-chart img", timeout=TIMEOUT_MS)
    assert "realtime factor" in page.locator("#trailer-summary").inner_text()
    assert "valence_mean" in page.locator("#trailer-embedding").inner_text()
    page.close()


def test_frames_tab_classifies_an_uploaded_image(browser, demo_url, media):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(demo_url, wait_until="domcontentloaded")
    page.get_by_role("tab", name="Frames").click()
    page.wait_for_function("() => document.querySelector('#frames-note')?.innerText.includes('Upload a poster')",
                           timeout=TIMEOUT_MS)
    page.locator("#frames-upload input[type=file]").set_input_files(str(media / "newton.png"))
    page.get_by_role("button", name="Classify").click()
    page.wait_for_selector("#frames-chart img", timeout=TIMEOUT_MS)
    summary = page.locator("#frames-summary").inner_text()
    assert "Budget class:" in summary and "From 1 image" in summary
    page.close()


def test_without_a_model_the_page_says_how_to_materialize(browser, fresh_storage, serve_demo):
    from cineseq_assets.forecast.store import model_dir

    storage = fresh_storage("seq2seq", models={})
    assert not (model_dir(storage) / "serving.json").exists()  # no model, nothing published
    page = browser.new_page()
    page.goto(serve_demo(storage), wait_until="domcontentloaded")
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
    page.close()
