"""CineSeq demo: box office forecasts served from the latest materialized model (Gradio).

    cineseq demo [--host 127.0.0.1] [--port 7860]

Everything it shows comes from the storage folder through the forecasting package
(``cineseq_assets.forecast.serving``): the serving model is checked on every request and reloaded
when a newer one has been materialized, so a running demo never needs a restart.

One server, one port: :func:`launch` serves the JSON API (``demo/api.py``: ``/api/v1/...``, OpenAPI at
``/docs``) with this Gradio page mounted at "/", both over one :class:`FilmService`.

Public Gradio endpoints (for ``gradio_client``): ``/forecast`` (film id or title, origin week; 0 or
empty = the latest week), ``/new_film`` (weekly grosses of a film not in the catalog) and ``/model`` (which model serves).
``/forecast`` answers what the JSON API answers (``demo.api.forecast_answer``). The page's own events are private.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from cineseq_assets.errors import CineSeqError, clipped  # noqa: E402
from cineseq_assets.forecast import features  # noqa: E402
from cineseq_assets.forecast.serving import (  # noqa: E402
    ERROR_COLUMNS,
    FORECAST_TABLE_COLUMNS,
    FilmForecast,
    FilmService,
    diagnostic_images,
    stored_models,
)
from cineseq_assets.storage import Storage  # noqa: E402
from demo import charts  # noqa: E402
from demo.api import build_api, forecast_answer  # noqa: E402

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # per file; a two-minute 1080p trailer is 30-60 MB
VIDEO_TYPES = [".mp4", ".mov", ".mkv", ".webm"]
IMAGE_TYPES = [".jpg", ".jpeg", ".png", ".webp"]
TABLE_TYPES = [".csv", ".csv.gz", ".parquet"]
GENRES = sorted(features.GENRES)  # the genres the forecaster reads, alphabetical for the picker
MPAA = ["", *features.MPAA, "Not Rated"]  # "" = not given; "Not Rated" is accepted and read as unknown
NO_MODEL = ("**No forecaster is materialized yet.** Run `cineseq run` (or `./scripts/main.sh`), or "
            "materialize `forecast_model` in the Dagster UI; this page uses it as soon as it exists, "
            "no restart needed.")
TABLE_COLUMNS = FORECAST_TABLE_COLUMNS
CONTRIBUTION_COLUMNS = ["block", "feature", *[f"h{h}" for h in range(1, features.HORIZON + 1)], "attribution"]
# Arrival (2016): its first three weeks (Box Office Mojo) and its facts, for the New film tab's example button.
EXAMPLE_FILM = ([[1, 31_570_799, 2317], [2, 19_536_764, 2442], [3, 14_670_951, 2442]], "Arrival", "2016-11-11",
                ["Drama", "Science Fiction", "Mystery"], 47_000_000, "PG-13")


# ------------------------------------------------------------------------------------ formatting

def _readable(table: pd.DataFrame) -> pd.DataFrame:
    """The page's version of a table: whole dollars with separators (empty where unknown), dates
    as dates, rates to 3 decimals."""
    out = table.copy()
    for column in ("p10", "p50", "p90", "decay_baseline", "actual", "mae", "gross"):
        if column in out:
            out[column] = out[column].map(lambda v: "" if pd.isna(v) else f"${v:,.0f}")
    if "week_start" in out:
        out["week_start"] = pd.to_datetime(out["week_start"]).dt.strftime("%Y-%m-%d")
    for column in ("wape", "inside_p10_p90"):
        if column in out:
            out[column] = out[column].round(3)
    return out


def _model_text(info: dict) -> str:
    """One line on a served model (``ServedModel.summary()``): what, from where, how it trained."""
    text = f"**{info['architecture']}** from `{info['file']}`, materialized {info['materialized_at']}"
    if isinstance(info["validation_wape"], float):
        text += (f"; validation WAPE {info['validation_wape']:.3f}, best epoch {info['best_epoch']} of "
                 f"{info['epochs']}, {info['training_seconds']:.0f} s of training")
    return text


def _forecast_status(forecast: FilmForecast) -> str:
    when = ("the live forecast from the latest observed week" if forecast.live else
            f"a backtest: what the model would have said after week {forecast.origin_week}")
    return (f"**{_for_page(str(forecast.title))}** ({_for_page(str(forecast.film_id))}), origin week {forecast.origin_week} "
            f"of {forecast.last_week}: {when}.")


def _final_total_line(forecast: FilmForecast) -> str:
    """The line under the chart: where the film ends, from this origin week (forecast.final_total)."""
    final = forecast.final_total
    if final is None:
        return "Final domestic total: not stored with this model (materialize forecast_model again)."
    return (f"Final domestic total: ${final['final_p50']:,.0f} (p10 ${final['final_p10']:,.0f} - "
            f"p90 ${final['final_p90']:,.0f}), multiplier baseline ${final['multiplier_baseline']:,.0f}")


def _errors(callable_, *args, **kwargs):
    """Run ``callable_``; turn the project's errors into a message for the page (never a stack trace)."""
    try:
        return callable_(*args, **kwargs)
    except (CineSeqError, ValueError, LookupError) as error:
        raise gr.Error(_for_page(str(error)), print_exception=False) from None


# A path under the server's temporary folder (an upload, the New film tab's file): the page shows its name only.
_SERVER_TEMP_PATH = re.compile(re.escape(tempfile.gettempdir()) + r"/(?:[^\s'\",:]*/)?([^/\s'\",:]+)")


def _for_page(text: str) -> str:
    """A message for the page: the server's temporary paths shortened to file names, at most
    ``MAX_SHOWN_CHARS`` characters of it, and HTML escaped (toasts and Markdown render HTML)."""
    return html.escape(clipped(_SERVER_TEMP_PATH.sub(r"\1", text)), quote=False)


def _checked_upload(upload, suffixes: list[str], what: str) -> Path:
    """The uploaded file's path, if its type is one the tab reads (the browser's filter can be bypassed)."""
    path = Path(upload)
    if not any(path.name.lower().endswith(suffix) for suffix in suffixes):
        raise gr.Error(f"{path.name} is not {what}: give a {', '.join(suffixes)} file.", print_exception=False)
    return path


# ------------------------------------------------------------------------------------ the app

def build_app(storage: Path | None = None, service: FilmService | None = None) -> gr.Blocks:
    """The page: one function per tab builds its components and wires its events, then the page's
    load fills in the film list and the notes that depend on what is materialized. ``service``: the
    one the JSON API serves from too (else one for ``storage``)."""
    service = service or FilmService(Path(storage) if storage else Storage.default().root)
    with gr.Blocks(title="CineSeq") as app:
        gr.Markdown("# CineSeq: decay-aware box office forecasts")
        status = gr.Markdown(elem_id="model-status")
        film, origin = _film_forecast_tab(service, status)
        _explain_tab(service, film, origin)
        _new_film_tab(service)
        trailer_note = _trailer_tab(service)
        frames_note = _frames_tab(service)
        compared = _compare_tab(service)

        def on_load():
            choices = _film_choices(service)
            first = choices[0] if choices else None
            return (gr.Dropdown(choices=choices, value=first), _model_status(service), _trailer_models(),
                    _frame_note(service), gr.Dropdown(choices=choices, value=choices[:2]))

        # Registered before the Model tab's own load, the order in which the page has always run them.
        app.load(on_load, outputs=[film, status, trailer_note, frames_note, compared], api_visibility="private")
        _model_tab(app, service)
        _public_api(service)
    return app


def _model_status(service: FilmService) -> str:
    """Which model serves, or why none does; and each newer file (model, panel) that could not be read
    while the last good copy keeps serving."""
    try:
        text = f"Serving {_model_text(service.models.current().summary())}."
    except CineSeqError as error:
        text = f"**The forecaster cannot be loaded:** {_for_page(str(error))}" if service.models.published else NO_MODEL
    notes = [f"a newer {what} file could not be read, the last good one serves: {_for_page(error)}"
             for what, error in service.reload_errors().items()]
    return text + "".join(f" ({note})" for note in notes)


def _film_choices(service: FilmService) -> list[str]:
    try:
        return service.catalog()["label"].tolist()
    except CineSeqError:
        return []


def _film_forecast_tab(service: FilmService, status: gr.Markdown) -> tuple[gr.Dropdown, gr.Slider]:
    """A catalog film's forecast from any origin week: chart, table and the film's backtest errors.
    Returns the film and origin inputs, which the Explain tab reads too."""

    def show_film(film: str, origin: float | None):
        forecast = _errors(service.forecast, film, int(origin or 0))
        chart = charts.forecast_figure(forecast)
        slider = gr.Slider(minimum=1, maximum=forecast.last_week, value=forecast.origin_week, step=1)
        return (slider, chart, _final_total_line(forecast), _readable(forecast.table), _readable(forecast.errors),
                _forecast_status(forecast), _model_status(service))

    def pick_film(film: str):
        return show_film(film, 0)

    with gr.Tab("Film forecast"):
        with gr.Row():
            film = gr.Dropdown(label="Film (showcase first; type to search)", choices=[], allow_custom_value=True,
                               filterable=True, elem_id="film", scale=3)
            origin = gr.Slider(label="Origin week: replay the forecast from any week of the run", minimum=1,
                               maximum=30, value=1, step=1, elem_id="origin", scale=2)
        forecast_status = gr.Markdown(elem_id="forecast-status")
        chart = gr.Plot(label="Weekly gross, forecast and decay baseline", elem_id="forecast-chart")
        final_total = gr.Markdown(elem_id="final-total")
        with gr.Row():
            table = gr.Dataframe(pd.DataFrame(columns=TABLE_COLUMNS), label="Forecast (dollars)",
                                 interactive=False, elem_id="forecast-table")
            errors = gr.Dataframe(pd.DataFrame(columns=ERROR_COLUMNS), interactive=False,
                                  label="This film's backtest errors (p50 vs actual, every origin)")
    film_outputs = [origin, chart, final_total, table, errors, forecast_status, status]
    film.change(pick_film, [film], film_outputs, api_visibility="private")
    origin.release(show_film, [film, origin], film_outputs, api_visibility="private")
    return film, origin


def _explain_tab(service: FilmService, film: gr.Dropdown, origin: gr.Slider) -> None:
    """Why the forecast on the first tab: attention over the observed weeks, Integrated Gradients per feature."""

    def explain(film: str, origin: float | None):
        forecast = _errors(service.forecast, film, int(origin or 0))
        explanation = _errors(service.explain, forecast)
        bars = charts.attribution_figure(explanation.contributions,
                                         f"{forecast.title}, origin week {forecast.origin_week}: what moves the p50")
        heatmap = None
        if explanation.attention is not None:
            heatmap = charts.attention_figure(explanation.attention, forecast.window.encoder_mask[0],
                                              forecast.origin_week, explanation.attention_source)
        checked = "passed" if explanation.converged else "**failed** for some horizon (treat with care)"
        note = (f"Integrated Gradients (Captum, 64 steps) against a mean-film baseline; completeness check {checked}. "
                f"Attention: {explanation.attention_source}.")
        table = explanation.contributions.sort_values("attribution", key=abs, ascending=False).head(25)
        table = table.astype({c: float for c in table.columns if c not in ("block", "feature")}).round(4)
        return heatmap, bars, table, note

    with gr.Tab("Explain"):
        gr.Markdown("Why the forecast shown on the first tab: attention over the observed weeks and "
                    "Integrated Gradients per feature.")
        explain_button = gr.Button("Explain the shown forecast", variant="primary")
        explain_note = gr.Markdown(elem_id="explain-note")
        with gr.Row():
            heatmap = gr.Plot(label="Attention: forecast week x observed week", elem_id="explain-attention")
            bars = gr.Plot(label="Integrated Gradients", elem_id="explain-attributions")
        contributions = gr.Dataframe(pd.DataFrame(columns=CONTRIBUTION_COLUMNS),
                                     label="Contributions to log(p50), per horizon (attribution: their mean)",
                                     interactive=False)
    explain_button.click(explain, [film, origin], [heatmap, bars, contributions, explain_note], api_visibility="private")


def _new_film_tab(service: FilmService) -> None:
    """A film not in the catalog: its first weeks typed in (or a weekly or daily file) and its facts."""

    def show_new_film(weeks: pd.DataFrame, upload, release_date: str, title: str, genres: list[str], budget, mpaa: str):
        warnings: list[str] = []
        if upload:
            path = _checked_upload(upload, TABLE_TYPES, "a weekly or daily box office file")
            forecast = _errors(service.forecast_new_film, path, warnings=warnings)
        else:
            if not str(release_date or "").strip():
                raise gr.Error("Give the release date (YYYY-MM-DD): weeks are counted from it.", print_exception=False)
            forecast = _errors(service.forecast_typed_film, weeks, warnings, release_date=release_date,
                               title=title or "", genres=genres, budget=budget or None, mpaa=mpaa)
        chart = charts.forecast_figure(forecast)
        notes = "".join(f"  \nNote: {_for_page(warning)}" for warning in warnings)
        model = _model_text(forecast.model.summary())
        status = f"{_forecast_status(forecast)} Model {model}. {_final_total_line(forecast)}{notes}"
        return chart, _readable(forecast.table), status

    with gr.Tab("New film"):
        gr.Markdown("A film that is not in the catalog: enter its first weeks (or upload a weekly or daily "
                    "file, see docs/user_data.md). Metadata not given is looked up by title and year.")
        with gr.Row():
            weeks = gr.Dataframe(headers=["week", "gross", "theaters"], datatype=["number", "number", "number"],
                                 value=[[1, None, None], [2, None, None], [3, None, None]], row_count=3,
                                 interactive=True, label="Weeks of run (week 1 = opening week)")
            with gr.Column():
                new_title = gr.Textbox(label="Title", elem_id="new-film-title")
                release = gr.Textbox(label="Release date (YYYY-MM-DD)", placeholder="2016-11-11")
                new_genres = gr.Dropdown(GENRES, multiselect=True, label="Genres (optional)")
                new_budget = gr.Number(None, label="Budget in dollars (optional)")
                new_mpaa = gr.Dropdown(MPAA, value="", label="MPAA rating (optional)")
                upload = gr.File(label="...or a file", file_types=TABLE_TYPES, type="filepath")
        with gr.Row():
            new_button = gr.Button("Forecast", variant="primary", scale=3)
            example_button = gr.Button("Fill in an example (Arrival, 2016)", scale=1)
        new_status = gr.Markdown(elem_id="new-film-status")
        new_chart = gr.Plot(label="Forecast", elem_id="new-film-chart")
        new_table = gr.Dataframe(pd.DataFrame(columns=TABLE_COLUMNS), label="Forecast (dollars)", interactive=False)
    new_button.click(show_new_film, [weeks, upload, release, new_title, new_genres, new_budget, new_mpaa],
                     [new_chart, new_table, new_status], api_visibility="private")
    example_button.click(lambda: EXAMPLE_FILM, outputs=[weeks, new_title, release, new_genres, new_budget, new_mpaa],
                         api_visibility="private")


def _trailer_tab(service: FilmService) -> gr.Markdown:
    """An uploaded trailer's emotional arc, audio energy and embedding. Returns the note the page's load fills."""

    def trailer(video):
        if not video:
            raise gr.Error("Upload a video first (mp4, mov, mkv or webm).", print_exception=False)
        from cineseq_assets.trailers.preview import analyze_upload  # heavy (onnxruntime, librosa): on first use

        result = _errors(analyze_upload, _checked_upload(video, VIDEO_TYPES, "a video"), service.storage_dir)
        chart = charts.trailer_figure(result.visual, result.audio, result.title)
        return chart, result.summary_markdown, result.embedding_table

    with gr.Tab("Trailer"):
        trailer_note = gr.Markdown(elem_id="trailer-note")
        video = gr.Video(label="Trailer (mp4, mov, mkv, webm; at most 100 MB)", sources=["upload"], elem_id="trailer-video")
        trailer_button = gr.Button("Analyse", variant="primary")
        trailer_summary = gr.Markdown(elem_id="trailer-summary")
        trailer_chart = gr.Plot(label="Emotional arc and audio energy", elem_id="trailer-chart")
        embedding = gr.Dataframe(pd.DataFrame(columns=["feature", "value", "meaning"]), interactive=False,
                                 label="Embedding (schema in docs/trailers.md)", elem_id="trailer-embedding")
    trailer_button.click(trailer, [video], [trailer_chart, trailer_summary, embedding], api_visibility="private")
    return trailer_note


def _trailer_models() -> str:
    from cineseq_assets.trailers.preview import missing_models_message

    return missing_models_message() or "Trailer models found: upload a short video (at most 100 MB)."


def _frames_tab(service: FilmService) -> gr.Markdown:
    """Genres and budget class of an image or a video by the frame classifier. Returns the note the page's load fills."""

    def classify_frames(upload):
        if not upload:
            raise gr.Error("Upload an image or a video first.", print_exception=False)
        from cineseq_assets.frames.classifier import cached_serving, classify_path  # heavy (torch): on first use

        path = _checked_upload(upload, IMAGE_TYPES + VIDEO_TYPES, "an image or a video")
        classifier = _errors(cached_serving, service.storage_dir)
        result = _errors(classify_path, classifier, path)
        seen = "1 image" if result.kind == "image" else f"{result.frames} representative frames (one per shot), averaged"
        summary = (f"**Genres:** {', '.join(result.predicted_genres) or 'none above its threshold'}  \n"
                   f"**Budget class:** {result.predicted_budget} ({result.budget[result.predicted_budget]:.0%})  \n"
                   f"From {seen}; model `{classifier.name}`. Held-out scores of every model: `frame_classifier` "
                   "in the Dagster UI, or docs/frames.md.")
        return charts.frames_figure(result.genres, result.budget, path.name), summary

    with gr.Tab("Frames"):
        frames_note = gr.Markdown(elem_id="frames-note")
        frame_upload = gr.File(label="Image or video (jpg, png, webp, mp4, mov, mkv, webm; at most 100 MB)",
                               file_types=IMAGE_TYPES + VIDEO_TYPES, elem_id="frames-upload")
        frames_button = gr.Button("Classify", variant="primary")
        frames_summary = gr.Markdown(elem_id="frames-summary")
        frames_chart = gr.Plot(label="Genre and budget-class probabilities", elem_id="frames-chart")
    frames_button.click(classify_frames, [frame_upload], [frames_chart, frames_summary], api_visibility="private")
    return frames_note


def _frame_note(service: FilmService) -> str:
    from cineseq_assets.frames.classifier import SERVING_FILE, classifier_dir

    if (classifier_dir(service.storage_dir) / SERVING_FILE).exists():
        return "Upload a poster, a still or a trailer: the frame classifier predicts genres and the budget class."
    return ("**No frame classifier is materialized yet.** Materialize `frame_classifier` in the Dagster UI "
            "or run `cineseq run` (it trains one when the labelled images are found); this tab uses it as soon as it exists.")


def _compare_tab(service: FilmService) -> gr.Dropdown:
    """Up to four films' runs on one chart, aligned by week of run, each with its forecast from the same
    week of run (or each from its latest week). Returns the film picker, which the page's load fills."""

    def compare(films: list[str] | None, origin: float | None):
        if not films:
            raise gr.Error("Pick one to four films to compare.", print_exception=False)
        if len(films) > charts.MAX_COMPARED:
            raise gr.Error(f"Compare at most {charts.MAX_COMPARED} films at once: remove "
                           f"{len(films) - charts.MAX_COMPARED}.", print_exception=False)
        forecasts = [_compared_forecast(service, film, int(origin or 0)) for film in films]
        lines = [f"- **{_for_page(str(f.title))}**: from week {f.origin_week} of {f.last_week}"
                 + ("" if not origin or f.origin_week == int(origin) else " (its run is shorter: its latest week)")
                 for f in forecasts]
        return charts.compare_figure(forecasts), "\n".join(lines)

    with gr.Tab("Compare films"):
        with gr.Row():
            films = gr.Dropdown(label=f"Films (up to {charts.MAX_COMPARED}; type to search)", choices=[], multiselect=True,
                                max_choices=charts.MAX_COMPARED, filterable=True, elem_id="compare-films", scale=3)
            origin = gr.Number(0, label="Forecast from week of run (0: each film's latest week)", minimum=0,
                               precision=0, elem_id="compare-origin", scale=1)
        compare_button = gr.Button("Compare", variant="primary")
        compare_note = gr.Markdown(elem_id="compare-note")
        compare_chart = gr.Plot(label="Weekly gross by week of run", elem_id="compare-chart")
    compare_button.click(compare, [films, origin], [compare_chart, compare_note], api_visibility="private")
    return films


def _compared_forecast(service: FilmService, film: str, origin: int) -> FilmForecast:
    """The film's forecast from ``origin``, or from its latest week when its run is shorter (0: the latest week)."""
    latest = _errors(service.forecast, film, 0)
    return latest if origin == 0 or origin >= latest.last_week else _errors(service.forecast, film, origin)


def _model_tab(app: gr.Blocks, service: FilmService) -> None:
    """Which model serves, the evaluation of every model and baseline, stored models, diagnostic plots."""

    def model_tab():
        stored = service.stored_evaluation()
        chart = None
        if stored is None:
            table = pd.DataFrame()
            note = ("`forecast_evaluation` is not materialized yet: materialize it in the Dagster UI "
                    "or run `cineseq run`, which includes it (one seed of the by-film split by default).")
        else:
            table = stored.summary.round(3)
            note = "Test films, origins 2-8, horizons 1-4, dollars; mean over seeds (by-film split)."
            kinds = stored.errors["split_kind"]
            split_kind = "by_film" if "by_film" in set(kinds) else str(kinds.iloc[0])
            chart = charts.evaluation_figure(stored.errors, split_kind)
        images = [(str(path), caption) for path, caption in diagnostic_images(service.storage_dir)]
        evaluation_shown = gr.Dataframe(table, visible=not table.empty)
        return (_model_status(service), note, evaluation_shown, gr.Plot(chart, visible=chart is not None),
                stored_models(service.storage_dir).round(3), images)

    with gr.Tab("Model"):
        model_info = gr.Markdown()
        evaluation_note = gr.Markdown()
        evaluation = gr.Dataframe(pd.DataFrame(), label="Evaluation: every model and baseline", interactive=False)
        evaluation_chart = gr.Plot(label="Test WAPE by horizon", elem_id="evaluation-chart", visible=False)
        trained = gr.Dataframe(pd.DataFrame(), label="Stored models (training on the training films, "
                               "early stopping and choice on the validation films)", interactive=False,
                               elem_id="stored-models")
        gallery = gr.Gallery(label="Decay diagnostics and evaluation plots", columns=2, height=640,
                             object_fit="contain", preview=False)
        refresh = gr.Button("Refresh")
    model_outputs = [model_info, evaluation_note, evaluation, evaluation_chart, trained, gallery]
    refresh.click(model_tab, outputs=model_outputs, api_visibility="private")
    app.load(model_tab, outputs=model_outputs, api_visibility="private")


# ------------------------------------------------------------------------------------ public API

def _public_api(service: FilmService) -> None:
    def forecast(film: str, origin_week: float | None = 0) -> dict:
        """The 4-week forecast of a catalog film from an origin week (0 or empty: the latest observed week).

        Returns film_id, title, origin_week, last_week, model, and rows of week, week_start, p10,
        p50, p90, decay_baseline and actual (null where not known yet), in dollars.
        """
        result = _errors(service.forecast, film, _origin(origin_week))
        return forecast_answer(result).model_dump(mode="json")

    def new_film(weeks: list[dict], release_date: str, title: str = "", genres: list[str] | None = None,
                 budget: float | None = None, mpaa: str = "") -> dict:
        """The forecast of a film not in the catalog from its weeks: [{"week": 1, "gross": ..., "theaters": ...}, ...]."""
        if not isinstance(weeks, list) or not weeks:
            raise gr.Error("weeks must be a list of rows like {\"week\": 1, \"gross\": 1000000, \"theaters\": 2000}",
                           print_exception=False)
        warnings: list[str] = []
        result = _errors(service.forecast_typed_film, pd.DataFrame(weeks), warnings, release_date=release_date,
                         title=title, genres=genres, budget=budget, mpaa=mpaa)
        return {**forecast_answer(result).model_dump(mode="json"), "warnings": [_for_page(warning) for warning in warnings]}

    def model() -> dict:
        """The serving model: architecture, file, materialization time and training metrics; ``reload_errors``
        says which newer file (model, panel) could not be read while the last good one serves."""
        return {**_errors(lambda: service.models.current().summary()), "reload_errors": service.reload_errors()}

    gr.api(forecast, api_name="forecast", concurrency_limit=2)
    gr.api(new_film, api_name="new_film")
    gr.api(model, api_name="model")


def _origin(value) -> int:
    if value in (None, ""):
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"origin_week must be a whole number of weeks (0 = latest), got {value!r}",
                       print_exception=False) from None
    if number != int(number) or number < 0:
        raise gr.Error(f"origin_week must be a whole number >= 0 (0 = latest), got {value!r}", print_exception=False)
    return int(number)


# ------------------------------------------------------------------------------------ serving

def launch(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, storage: Path | None = None,
           block: bool = True, quiet: bool = False) -> DemoServer:
    """Serve the JSON API and the page on ``host:port`` (127.0.0.1 unless asked otherwise), analytics off;
    with ``block``, until Ctrl-C or SIGTERM (from the main thread). Returns the server: ``close()`` stops it."""
    service = FilmService(Path(storage) if storage else Storage.default().root)
    threading.Thread(target=service.warm, name="cineseq-warm-up", daemon=True).start()  # while the page is built
    page = build_app(service=service)
    page.queue(default_concurrency_limit=2)
    app = gr.mount_gradio_app(build_api(service), page, path="/", server_name=host, server_port=port,
                              footer_links=["api"], show_error=False, max_file_size=MAX_UPLOAD_BYTES)
    # A signal only sets a flag, from before the server starts: one that arrived while the server was still
    # starting (its thread already serving) would otherwise leave that thread, and the process, running.
    stop = _stop_on_signals() if block else None
    server = DemoServer(app, page, host, port).start()
    if not quiet:
        print(f"* Running on {server.url} (the page; the JSON API under {server.url}api/v1, its docs at {server.url}docs)",
              flush=True)
    if stop is not None:
        stop.wait()
        print("stopping the demo", flush=True)
        server.close()
    return server


class DemoServer:
    """uvicorn serving ``app`` (the API with the Gradio ``page`` mounted) from a thread of this process, on
    its own event loop. The port is bound here, so that a port in use fails the caller, not the thread."""

    STOP_SECONDS = 10  # what close() waits for the requests in flight; Gradio's event streams are ended first

    def __init__(self, app: FastAPI, page: gr.Blocks, host: str, port: int):
        shown = "127.0.0.1" if host == "0.0.0.0" else f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}/"
        self._app, self._page = app, page
        self._socket = _listening_socket(host, port)
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=self.STOP_SECONDS)
        self._server = uvicorn.Server(config)
        # The loop uvicorn.run would choose: uvloop where it is installed (uvicorn[standard]), else asyncio's.
        # benchmarks/demo.py, 8 clients on 2 cores, the same run otherwise: the JSON API at p50 10 ms / p95 23 ms
        # and 394 requests/s on uvloop, against 45 / 52 ms and 153 requests/s on asyncio's loop (server CPU 1.6
        # against 2.4 ms a request).
        self._loop = (config.get_loop_factory() or asyncio.new_event_loop)()
        self._thread = threading.Thread(target=self._serve, name=f"cineseq-demo-{port}", daemon=True)

    def start(self) -> DemoServer:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the demo server stopped while starting on {self.url}: its log above says why")
            time.sleep(0.01)
        return self

    def close(self) -> None:
        """Stop serving: Gradio's queue and its open event streams (session heartbeats, which the server
        would otherwise wait for), then the server, once the requests in flight are answered."""
        if not self._thread.is_alive():
            return
        self._page.close(verbose=False)
        gradio_apps = [route.app for route in self._app.routes if isinstance(route, Mount)]
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing left to end
            for gradio_app in gradio_apps:
                self._loop.call_soon_threadsafe(gradio_app.stop_event.set)
        self._server.should_exit = True
        self._thread.join(timeout=self.STOP_SECONDS + 5)

    def _serve(self) -> None:
        try:
            self._loop.run_until_complete(self._server.serve(sockets=[self._socket]))
        finally:
            self._loop.close()
            self._socket.close()


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bound = socket.socket(family, socket.SOCK_STREAM)
    bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        bound.bind((host, port))
    except OSError as error:
        bound.close()
        # "Cannot find empty port" is how Gradio said it, and what scripts that retry on another port look for.
        raise OSError(error.errno, f"Cannot find empty port {port} on {host} ({error.strerror}): "
                                   "choose another with --port") from None
    return bound


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    return stop


if __name__ == "__main__":
    launch()
