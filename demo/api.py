"""The JSON API: the demo's forecasts for programs, from the same serving layer as its page.

    GET  /api/v1/films?search=TEXT               catalog films (showcase first), those whose title or id holds TEXT
    GET  /api/v1/films/{film}/forecast?origin=N  a catalog film's 4-week forecast from origin week N (0: the latest)
    POST /api/v1/forecast                        the forecast of a film not in the catalog, from its first weeks
    GET  /api/v1/model                           which model serves, when it was materialized, the evaluation
    GET  /healthz                                the server answers (and which model serves, if any)

The OpenAPI schema is at /openapi.json; /docs is a reference page drawn from it here (FastAPI's own
page loads Swagger UI from a CDN, and nothing a page shows may come from outside). ``demo/app.py`` mounts the Gradio page on
this app: one server, one port, one :class:`FilmService`. :func:`forecast_answer` is the one conversion of
a forecast to JSON, used by this API and by the page's Gradio ``/forecast`` endpoint alike, so both give the
same numbers. Nothing here imports Gradio.

Errors are JSON (:class:`ErrorAnswer`), never a stack trace: 404 for an unknown film (with suggestions),
422 for bad input (each problem naming its field, and its row of ``weeks``), 503 while no model or panel is
materialized (saying what to run), 413 for a body beyond ``MAX_BODY_BYTES``.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import date
from html import escape
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from cineseq_assets.boxoffice.userfile.limits import MAX_WEEK
from cineseq_assets.errors import CineSeqError, ModelError, StoredFileError, clipped
from cineseq_assets.forecast.serving import FORECAST_TABLE_COLUMNS, FilmForecast, FilmNotFoundError, FilmService

API_PREFIX = "/api/v1"
# A typed-in film has at most MAX_WEEK weeks (the loader's bound on a run); 1 KiB a row is far more than a
# row's three numbers take in JSON, so the body's bound follows from the loader's instead of adding a number.
MAX_BODY_BYTES = MAX_WEEK * 1024
DOLLAR_COLUMNS = [column for column in FORECAST_TABLE_COLUMNS if column not in ("week", "week_start")]
# The loader's messages locate a problem as "row R, column 'C'", R counting the weekly file's rows as a
# spreadsheet does (the header is row 1): the request's weeks[R - 2], each written as one row, in order.
_FILE_CELL = re.compile(r"row (\d+), column '([^']+)'")
_FIRST_FILE_ROW = 2
_WEEK_COLUMNS = {"week", "gross", "theaters"}  # per week; the film's facts are fields of the request itself

logger = logging.getLogger("cineseq.api")


# ------------------------------------------------------------------------------------ answers

class FilmSummary(BaseModel):
    film_id: str
    title: str
    year: int
    label: str = Field(description='"Title (year)", as the page lists it')
    showcase: bool
    weeks: int = Field(description="observed weeks of run: the latest origin week")


class FilmList(BaseModel):
    count: int
    films: list[FilmSummary]


class ModelSummary(BaseModel):
    architecture: str
    file: str
    runtime: str = Field(description="onnxruntime, or pytorch for a model without an ONNX export")
    materialized_at: str = Field(description="when its weights were written, UTC")
    validation_wape: float | None
    best_epoch: int | None
    epochs: int | None
    training_seconds: float | None


class ForecastRow(BaseModel):
    week: int = Field(description="week of run (1 = opening week)")
    week_start: date
    p10: int | None = Field(description="dollars, rounded")
    p50: int | None
    p90: int | None
    decay_baseline: int | None = Field(description="the decay prior the network corrects")
    actual: int | None = Field(description="what the film grossed that week; null until known")


class FinalTotal(BaseModel):
    gross_to_date: int
    p10: int
    p50: int
    p90: int
    multiplier_baseline: int = Field(description="the rule of thumb: gross to date times the usual multiplier")
    tail: str = Field(description="how the weeks after the forecast are added up")


class ForecastAnswer(BaseModel):
    film_id: str
    title: str
    origin_week: int = Field(description="the forecast uses the weeks up to this one")
    last_week: int = Field(description="the latest observed week: the live forecast's origin")
    model: ModelSummary
    columns: list[str]
    rows: list[ForecastRow]
    final_total: FinalTotal | None = Field(description="the final domestic total; null for a model stored without one")
    timing_ms: dict[str, float] = Field(description="server time: model (the network), forecast (all of it)")


class NewFilmAnswer(ForecastAnswer):
    warnings: list[str] = Field(description="what the loader repaired or read as unknown")


class ModelAnswer(BaseModel):
    model: ModelSummary
    evaluation: list[dict[str, str | float | int | None]] | None = Field(
        description="test errors of every model and baseline (forecast_evaluation); null until it is materialized")
    reload_errors: dict[str, str] = Field(
        description="newer files (model, panel) that could not be read, while the last good one serves")


class Health(BaseModel):
    status: str
    model: str | None = Field(description="the serving architecture; null while none can serve")


class Problem(BaseModel):
    field: str | None = Field(None, description='the request field, e.g. "weeks[2].gross" or "origin"')
    row: int | None = Field(None, description="the index in weeks, for a week's value")
    message: str


class ErrorAnswer(BaseModel):
    error: str = Field(description="film_not_found, invalid_input, not_materialized, body_too_large, not_found, internal, ...")
    message: str
    problems: list[Problem] = []
    suggestions: list[FilmSummary] = []


ERRORS = {status: {"model": ErrorAnswer} for status in (404, 422, 503)}


# ------------------------------------------------------------------------------------ requests

class WeekRow(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    week: int = Field(description="week of run: 1 = opening week")
    gross: float = Field(description="US dollars that week")
    theaters: int | None = None


class NewFilmRequest(BaseModel):
    """A film not in the catalog. Checked by the same loader as the page's New film tab, with its messages."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [{
        "weeks": [{"week": 1, "gross": 31570799, "theaters": 2317}, {"week": 2, "gross": 19536764, "theaters": 2442}],
        "release_date": "2016-11-11", "title": "Arrival", "genres": ["Drama", "Science Fiction"],
        "budget": 47000000, "mpaa": "PG-13"}]})

    weeks: list[WeekRow] = Field(min_length=1, max_length=MAX_WEEK)
    release_date: str = Field(description="YYYY-MM-DD: weeks are counted from it")
    title: str = ""
    genres: list[str] = []
    budget: float | None = None
    mpaa: str = ""


# ------------------------------------------------------------------------------------ the one conversion

def forecast_answer(forecast: FilmForecast) -> ForecastAnswer:
    """A forecast as JSON types: dollars rounded, unknown actuals null. The page's Gradio endpoint
    answers ``forecast_answer(...).model_dump(mode="json")``, this API the same model."""
    # The table's arrays as Python values, not its frame: pandas costs more per cell than the rest of the answer.
    columns = forecast.columns
    dollars = [[_dollars(value) for value in columns[name].tolist()] for name in DOLLAR_COLUMNS]
    rows = [{"week": week, "week_start": start, **dict(zip(DOLLAR_COLUMNS, values))}
            for week, start, *values in zip(columns["week"].tolist(), _dates(columns["week_start"]), *dollars)]
    return ForecastAnswer.model_validate({
        "film_id": forecast.film_id, "title": forecast.title, "origin_week": forecast.origin_week,
        "last_week": forecast.last_week, "model": forecast.model.summary(), "columns": FORECAST_TABLE_COLUMNS,
        "rows": rows, "final_total": _final_total(forecast.final_total),
        "timing_ms": {name: round(value, 3) for name, value in forecast.timing_ms.items()}})


def _dollars(value: float) -> int | None:
    return None if math.isnan(value) else round(value)


def _dates(values: np.ndarray) -> list[date]:
    """datetime64 values as dates (the day each falls on)."""
    return values.astype("datetime64[D]").tolist()


def _final_total(final: dict | None) -> dict | None:
    if final is None:
        return None
    return {"gross_to_date": round(float(final["gross_to_date"])), "p10": round(float(final["final_p10"])),
            "p50": round(float(final["final_p50"])), "p90": round(float(final["final_p90"])),
            "multiplier_baseline": round(float(final["multiplier_baseline"])), "tail": str(final["final_tail"])}


# ------------------------------------------------------------------------------------ the app

def build_api(service: FilmService) -> FastAPI:
    """The JSON API over ``service``, with its error answers; the Gradio page is mounted on it by demo/app.py."""
    api = FastAPI(title="CineSeq", version="1", summary="Box office forecasts: 4 weeks ahead and the final total.",
                  description="Forecasts of the latest materialized model. Errors are `ErrorAnswer` JSON.",
                  docs_url=None, redoc_url=None)
    _add_routes(api, service)
    api.add_api_route("/docs", lambda: HTMLResponse(reference_page(api.openapi())), include_in_schema=False)
    _add_error_answers(api, service)
    api.add_middleware(_BodyLimit, limit=MAX_BODY_BYTES)
    return api


def _add_routes(api: FastAPI, service: FilmService) -> None:
    # Each route answers a Response it serialized itself: FastAPI would otherwise validate the answer again,
    # for a plain `def` route in a second trip through its thread pool (response_model documents the answer).

    @api.get(f"{API_PREFIX}/films", response_model=FilmList, responses=ERRORS, tags=["films"])
    def films(search: Annotated[str | None, Query(description="part of a title or film id, any case")] = None):
        """Catalog films, showcase films first, then by title."""
        found = service.find(search)
        return _json(FilmList(count=len(found), films=_film_summaries(found)))

    # An `async` route: the forecast (a few ms of CPU, most of it holding the GIL) runs on the event loop
    # itself. In FastAPI's thread pool, 8 concurrent requests took turns for the GIL with each other and with
    # the loop, which cost a third more CPU per request and the tail latency. What blocks the loop longer is
    # the first read of a new panel or model; launch() reads them at start (FilmService.warm).
    @api.get(f"{API_PREFIX}/films/{{film:path}}/forecast", response_model=ForecastAnswer, responses=ERRORS,
             tags=["films"])
    async def film_forecast(film: Annotated[str, Path(description="film id, title or \"Title (year)\"")],
                            origin: Annotated[int, Query(ge=0, description="origin week; 0 = the latest observed")] = 0):
        """A catalog film's 4-week forecast (p10/p50/p90, decay baseline, actuals when known) and final total."""
        try:
            forecast = service.forecast(film, origin)
        except ValueError as error:  # past the checks above, a catalog film refuses only an origin outside its run
            raise _InvalidInput(str(error), [Problem(field="origin", message=clipped(str(error)))]) from None
        return _json(forecast_answer(forecast))

    @api.post(f"{API_PREFIX}/forecast", response_model=NewFilmAnswer, responses=ERRORS, tags=["new films"])
    def new_film_forecast(request: NewFilmRequest):
        """The forecast of a film not in the catalog from its first weeks, release date and optional facts
        (missing metadata is looked up by title and year), as the page's New film tab makes it."""
        warnings: list[str] = []
        # JSON's 5 and 5.0 are one number: whole columns are written, and named in messages, as typed (5, not 5.0)
        weeks = pd.DataFrame([row.model_dump() for row in request.weeks], columns=list(WeekRow.model_fields)).convert_dtypes()
        try:
            forecast = service.forecast_typed_film(weeks, warnings, release_date=request.release_date,
                                                   title=request.title, genres=request.genres, budget=request.budget,
                                                   mpaa=request.mpaa)
        except (ModelError, StoredFileError):
            raise  # not the input's fault: 503
        except (CineSeqError, ValueError) as error:
            raise _InvalidInput(str(error), _typed_film_problems(str(error))) from None
        answer = forecast_answer(forecast).model_dump()
        return _json(NewFilmAnswer(**answer, warnings=[clipped(warning) for warning in warnings]))

    @api.get(f"{API_PREFIX}/model", response_model=ModelAnswer, responses=ERRORS, tags=["model"])
    def model():
        """The serving model, when it was materialized and how it trained; the evaluation of every model and
        baseline on test films; newer files that could not be read."""
        summary = service.models.current().summary()
        return _json(ModelAnswer(model=summary, evaluation=_records(service.evaluation()),
                                 reload_errors=service.reload_errors()))

    @api.get("/healthz", response_model=Health, tags=["health"])
    def healthz():
        """200 while the server answers; ``model`` says whether a forecaster can serve."""
        try:
            architecture = service.models.current().architecture
        except Exception:  # no model yet, or one that cannot be read: the server is still up
            architecture = None
        return _json(Health(status="ok", model=architecture))

    routes = list(api.routes)

    # Without it, Gradio (mounted at "/") would answer the API's unknown paths and methods with its own page.
    @api.api_route(API_PREFIX + "/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                   include_in_schema=False)
    def unknown_route(request: Request):
        path = request.url.path
        allowed = sorted({method for route in routes if isinstance(route, APIRoute) and route.path_regex.match(path)
                          for method in route.methods})
        if allowed:
            raise HTTPException(405, f"{path} answers {', '.join(allowed)}", headers={"Allow": ", ".join(allowed)})
        raise HTTPException(404, f"no API route {path}: the routes are listed at /docs")


def _json(answer: BaseModel, status: int = 200) -> Response:
    return Response(answer.model_dump_json(), status_code=status, media_type="application/json")


def _film_summaries(catalog: pd.DataFrame) -> list[FilmSummary]:
    columns = list(FilmSummary.model_fields)
    return [FilmSummary.model_validate(dict(zip(columns, values))) for values in catalog[columns].itertuples(index=False)]


def _records(table: pd.DataFrame | None) -> list[dict] | None:
    """A table's rows with JSON's null where a value is missing (a single seed has no std)."""
    if table is None:
        return None
    return [{key: None if isinstance(value, float) and math.isnan(value) else value for key, value in row.items()}
            for row in table.to_dict(orient="records")]


# ------------------------------------------------------------------------------------ the reference page

def reference_page(openapi: dict) -> str:
    """Every route of the OpenAPI document with its parameters, body and answers, as one plain HTML page
    (no script, nothing fetched); the schemas themselves are in /openapi.json."""
    sections = [f"<h1>{escape(openapi['info']['title'])} API</h1><p>{escape(openapi['info'].get('summary', ''))} "
                'The machine-readable document: <a href="/openapi.json">/openapi.json</a>.</p>']
    for path, methods in openapi["paths"].items():
        for method, route in methods.items():
            sections.append(_route_section(path, method, route))
    return ("<!doctype html><html><head><meta charset='utf-8'><title>CineSeq API</title><style>body{font-family:"
            "sans-serif;max-width:60em;margin:2em auto}code{background:#eee;padding:0 .2em}</style></head><body>"
            + "".join(sections) + "</body></html>")


def _route_section(path: str, method: str, route: dict) -> str:
    parameters = "".join(f"<li><code>{escape(p['name'])}</code> ({p['in']}{', required' if p.get('required') else ''})"
                         f": {escape(p.get('description', ''))}</li>" for p in route.get("parameters", []))
    body = route.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    answers = "".join(f"<li>{status}: {escape(_schema_name(answer.get('content', {}).get('application/json', {})))}"
                      f" {escape(answer.get('description', ''))}</li>" for status, answer in route.get("responses", {}).items())
    text = escape(route.get("description", route.get("summary", "")))
    return (f"<h2><code>{method.upper()} {escape(path)}</code></h2><p>{text}</p>"
            f"{f'<p>Parameters:</p><ul>{parameters}</ul>' if parameters else ''}"
            f"{f'<p>Body: {escape(_schema_name(body))}</p>' if body else ''}<p>Answers:</p><ul>{answers}</ul>")


def _schema_name(schema: dict) -> str:
    reference = schema.get("$ref") or schema.get("schema", {}).get("$ref", "")
    return reference.rsplit("/", 1)[-1]


# ------------------------------------------------------------------------------------ errors

class _InvalidInput(Exception):
    """Input the serving layer refused, with the problems located in the request."""

    def __init__(self, message: str, problems: list[Problem]):
        super().__init__(message)
        self.problems = problems


def _typed_film_problems(message: str) -> list[Problem]:
    """Where in the request the loader's message points: each "row R, column 'C'" of the weekly file
    written from the request becomes weeks[R - 2].C, or the film's own field (release_date, title, ...)."""
    problems = []
    for file_row, column in _FILE_CELL.findall(message):
        if column in _WEEK_COLUMNS:
            row = int(file_row) - _FIRST_FILE_ROW
            problems.append(Problem(field=f"weeks[{row}].{column}", row=row, message=clipped(message)))
        else:
            problems.append(Problem(field=column, message=clipped(message)))
    return problems or [Problem(message=clipped(message))]


def _error(status: int, kind: str, message: str, problems: list[Problem] = (), suggestions: list[FilmSummary] = ()):
    answer = ErrorAnswer(error=kind, message=clipped(message), problems=list(problems), suggestions=list(suggestions))
    return _json(answer, status)


def _add_error_answers(api: FastAPI, service: FilmService) -> None:
    """Every error a JSON answer with its status code; the stack trace of an unexpected one goes to the log only."""

    @api.exception_handler(FilmNotFoundError)
    def film_not_found(request: Request, error: FilmNotFoundError):
        return _error(404, "film_not_found", str(error), suggestions=_suggestions(service, error.suggestions))

    @api.exception_handler(ModelError)
    @api.exception_handler(StoredFileError)
    def not_materialized(request: Request, error: CineSeqError):
        return _error(503, "not_materialized", str(error))

    @api.exception_handler(_InvalidInput)
    def invalid_input(request: Request, error: _InvalidInput):
        return _error(422, "invalid_input", str(error), error.problems)

    @api.exception_handler(CineSeqError)
    @api.exception_handler(ValueError)
    def refused(request: Request, error: Exception):
        return _error(422, "invalid_input", str(error), [Problem(message=clipped(str(error)))])

    @api.exception_handler(RequestValidationError)
    def invalid_request(request: Request, error: RequestValidationError):
        problems = [_validation_problem(entry) for entry in error.errors()]
        return _error(422, "invalid_input", "; ".join(problem.message for problem in problems[:5]), problems)

    @api.exception_handler(HTTPException)
    def http_error(request: Request, error: HTTPException):
        kind = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        answer = _error(error.status_code, kind, str(error.detail))
        answer.headers.update(error.headers or {})
        return answer

    @api.exception_handler(Exception)
    def unexpected(request: Request, error: Exception):
        logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return _error(500, "internal", "the server failed to answer: its log says why")


def _suggestions(service: FilmService, film_ids: list[str]) -> list[FilmSummary]:
    catalog = service.catalog()
    return _film_summaries(catalog[catalog["film_id"].isin(film_ids)])


def _validation_problem(entry: dict) -> Problem:
    """pydantic's error as a problem: ("body", "weeks", 2, "gross") is weeks[2].gross, row 2."""
    where = [part for part in entry.get("loc", ()) if part not in ("body", "query", "path")]
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where).lstrip(".") or None
    row = next((part for part in where[1:] if isinstance(part, int)), None) if where[:1] == ["weeks"] else None
    message = clipped(f"{field}: {entry.get('msg', 'invalid')}" if field else str(entry.get("msg", "invalid")), 500)
    return Problem(field=field, row=row, message=message)


class _BodyLimit:
    """Refuses (413) a request to the API whose body passes ``limit`` bytes, reading no more of it than that;
    the page's uploads have Gradio's own limit. The body is read here, then handed on whole."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX + "/"):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            return await self._too_large(scope, receive, send)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                return await self._too_large(scope, receive, send)
        pending = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay():
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope, receive, send):
        answer = _error(413, "body_too_large", f"the request body is larger than {self.limit:,} bytes "
                        f"(a film of at most {MAX_WEEK:,} weeks fits well within it)")
        await answer(scope, receive, send)
