"""The films of the materialized panel, forecast by the serving model, for the demo's page and JSON API.

:class:`FilmService` answers the questions the demo asks: which films there are, one film's
forecast from any origin week against what really happened, why the model forecast that, and a
forecast for a film that is not in the catalog. The panel, the serving model and the attention
model are each read again when a newer one is materialized (cineseq_assets.reloading).
"""

from __future__ import annotations

import difflib
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ...boxoffice.features import MarketCalendar
from ...errors import CineSeqError, ModelError
from ...reloading import FileWatch
from ...storage import asset_path, read_asset, read_parquet_file
from ..new_films import first_film_panel, write_weekly_file
from ..store import load_model, model_folder
from ..windows import Windows, build_windows
from .explain import Explanation, explain_forecast
from .film_forecast import FilmForecast, FilmPanel, film_panels, forecast_panel
from .model import ModelWatcher
from .reports import evaluation_table, stored_evaluation

ATTENTION_ARCHITECTURE = "seq2seq_attention"
NO_PANEL_HINT = "Materialize the asset graph first: `cineseq run` (or the Dagster UI)."
TYPED_FILM_FILE = "new_film.csv"  # the name messages give a typed-in film's weeks (its folder is the server's business)
TYPED_FILM_FOLDER_PREFIX = "cineseq-newfilm-"  # a typed-in film's weekly file lives in one, for one request


class FilmNotFoundError(CineSeqError, LookupError):
    """A film id or title that the catalog does not hold (or holds more than once); ``suggestions`` are
    the ids of the films it may have meant, for a front end that lists them (the message names them too)."""

    def __init__(self, message: str, suggestions: list[str] | None = None):
        super().__init__(message)
        self.suggestions = list(suggestions or [])


@dataclass
class _Films:
    """One read of the panel asset, indexed for requests (replaced whole when the panel changes)."""

    panel: pd.DataFrame
    by_id: dict[str, FilmPanel]  # film_id -> its rows by week, title and gross to date
    catalog: pd.DataFrame
    names: dict[str, dict[str, list[str]]]  # "label"/"title" -> case-folded name -> film ids
    search_keys: list[tuple[str, str]]  # case-folded (label, film_id) of each catalog row, for find()
    windows: dict[int, tuple[Windows, dict[str, tuple[int, int]]]] = field(default_factory=dict)  # by encoder length


class FilmService:
    """Films of the materialized panel, forecast by the serving model of ``storage_dir``."""

    def __init__(self, storage_dir: Path):
        self.storage_dir = Path(storage_dir)
        self.models = ModelWatcher(self.storage_dir)
        self._lock = threading.Lock()
        panel = asset_path("panel", root=self.storage_dir)
        self._films = FileWatch(lambda: (panel,), self._read_films)
        attention = model_folder(self.storage_dir).file(ATTENTION_ARCHITECTURE)
        self._attention = FileWatch(lambda: (attention,), lambda files: load_model(files[0])[0] if files[0].exists() else None)
        self._evaluation = FileWatch(lambda: (asset_path("forecast_evaluation", root=self.storage_dir),),
                                     lambda _: _read_evaluation(self.storage_dir))

    # ------------------------------------------------------------------------------- the catalog

    def catalog(self) -> pd.DataFrame:
        """film_id, title, year, label ("Title (year)"), showcase, weeks: showcase films first, then by title."""
        return self._films.get().catalog

    def resolve(self, query: str) -> str:
        """The film id for an id, a title or a "Title (year)" label (case-insensitive)."""
        text = str(query or "").strip()
        if not text:
            raise FilmNotFoundError("no film given: type a title (e.g. Inception) or a film id (e.g. rl2908456449)")
        films = self._films.get()
        catalog = films.catalog
        if text in films.by_id:
            return text
        for column in ("label", "title"):
            matches = films.names[column].get(text.casefold(), [])
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                labels = catalog.set_index("film_id").loc[matches[:5], "label"]
                raise FilmNotFoundError(f"{text!r} matches {len(matches)} films: "
                                        f"{', '.join(labels)}. Give the year or the film id.", matches)
        close = difflib.get_close_matches(text, catalog["title"].tolist(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        suggestions = [film_id for title in close for film_id in films.names["title"][title.casefold()]]
        raise FilmNotFoundError(f"no film {text!r} in the materialized panel ({len(catalog):,} films).{hint}", suggestions)

    def find(self, text: str | None = None) -> pd.DataFrame:
        """The catalog's films whose label ("Title (year)") or id holds ``text``, case-insensitive, in
        catalog order; the whole catalog when ``text`` is empty."""
        films = self._films.get()
        text = str(text or "").strip().casefold()
        if not text:
            return films.catalog
        return films.catalog.iloc[[row for row, keys in enumerate(films.search_keys) if text in keys[0] or text in keys[1]]]

    def evaluation(self) -> pd.DataFrame | None:
        """The materialized forecast_evaluation summarized per model (``reports.evaluation_table``); None
        when it was never materialized."""
        stored = self._evaluation.get()
        return None if stored is None else stored.summary

    def stored_evaluation(self) -> StoredEvaluation | None:
        """The materialized forecast_evaluation and its summary, read again only when the file changes
        (a broken new file leaves the last good copy); None when it was never materialized."""
        return self._evaluation.get()

    def reload_errors(self) -> dict[str, str]:
        """Why a newer file could not be read, for what still serves its last good copy: "model", "panel".
        Both are checked now, so that a file repaired since is not reported."""
        for check in (self.models.current, self._films.get):
            try:
                check()
            except Exception:  # nothing loaded yet, so no reload error: the request that needs it says why
                pass
        errors = {"model": self.models.reload_error, "panel": self._films.error}
        return {what: error for what, error in errors.items() if error}

    def _read_films(self, files: tuple[Path]) -> _Films:
        if not files[0].exists():
            raise ModelError(files[0], "no materialized panel", NO_PANEL_HINT)
        panel = read_asset("panel", root=self.storage_dir)
        by_id = film_panels(panel)
        catalog = _catalog(panel, self.storage_dir)
        search_keys = list(zip(catalog["label"].astype(str).str.casefold(), catalog["film_id"].astype(str).str.casefold()))
        return _Films(panel, by_id, catalog, {column: _ids_by_name(catalog, column) for column in ("label", "title")},
                      search_keys)

    # ------------------------------------------------------------------------------ forecasting

    def forecast(self, query: str, origin_week: int | None = None) -> FilmForecast:
        """The film's forecast from ``origin_week`` (None or 0: its latest observed week)."""
        film_id = self.resolve(query)
        films, served = self._films.get(), self.models.current()
        windows = self._film_windows(films, film_id, served.model.train_config.encoder_length)
        return forecast_panel(films.by_id[film_id], served, origin_week, windows)

    def warm(self) -> None:
        """Read the panel and the serving model and build the panel's windows now (seconds for the whole
        catalog) rather than in the first request. What cannot be read yet is left to the requests, which say why."""
        try:
            films, served = self._films.get(), self.models.current()
        except Exception:  # nothing materialized yet, or a file that cannot be read: not the warm-up's to report
            return
        if len(films.catalog):
            self._film_windows(films, str(films.catalog["film_id"].iloc[0]), served.model.train_config.encoder_length)

    def _film_windows(self, films: _Films, film_id: str, encoder_length: int) -> Windows:
        """The film's windows from every origin, cut from windows built once for the whole panel
        (0.9 s for 2,885 films, against 18 ms for one film alone: pandas' per-call overhead)."""
        with self._lock:
            if encoder_length not in films.windows:
                windows = build_windows(films.panel, encoder_length, min_targets=0)
                ids = windows.film_id.astype(str)
                starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
                ends = np.r_[starts[1:], len(ids)]
                films.windows[encoder_length] = (windows, {ids[a]: (a, b) for a, b in zip(starts, ends)})
            windows, rows = films.windows[encoder_length]
        first, end = rows[film_id]
        return windows.subset(slice(first, end))

    def explain(self, forecast: FilmForecast) -> Explanation:
        """Integrated Gradients and attention for ``forecast`` (see :func:`explain_forecast`)."""
        # the attention network stored beside the serving model draws the heatmap when the serving one has none
        return explain_forecast(forecast, None if forecast.attention is not None else self._attention.get())

    def forecast_new_film(self, weekly_file: Path, market: MarketCalendar | None = None,
                          warnings: list | None = None) -> FilmForecast:
        """The forecast for the first film of a user's weekly or daily file (docs/user_data.md); the
        loader's repairs and values it read as unknown are appended to ``warnings``."""
        return forecast_panel(first_film_panel(weekly_file, market, warnings), self.models.current(), None)

    def forecast_typed_film(self, weeks: pd.DataFrame, warnings: list | None = None, **facts) -> FilmForecast:
        """The forecast of a film typed in (a form, a JSON request): its weeks (week, gross[, theaters]) and
        facts (release_date, title, genres, budget, mpaa: see ``write_weekly_file``) become a one-film weekly
        file, read by the same loader as an upload, so the same checks and messages apply. The file lives in a
        temporary folder removed once the forecast is made; messages and ``warnings`` call it new_film.csv."""
        with tempfile.TemporaryDirectory(prefix=TYPED_FILM_FOLDER_PREFIX) as folder:
            path = Path(folder) / TYPED_FILM_FILE
            notes: list = []
            try:
                return self.forecast_new_film(write_weekly_file(weeks, path, **facts), warnings=notes)
            except CineSeqError as error:
                error.args = (str(error).replace(str(path), path.name),)
                raise
            finally:
                if warnings is not None:
                    warnings.extend(str(note).replace(str(path), path.name) for note in notes)


class StoredEvaluation(NamedTuple):
    # forecast_evaluation as materialized: errors per split, model, seed and grouping (overall, horizon, film...)
    errors: pd.DataFrame
    summary: pd.DataFrame  # reports.evaluation_table(errors): a row per model


def _read_evaluation(storage_dir: Path) -> StoredEvaluation | None:
    errors = stored_evaluation(storage_dir)
    return None if errors is None else StoredEvaluation(errors, evaluation_table(errors))


def _ids_by_name(catalog: pd.DataFrame, column: str) -> dict[str, list[str]]:
    """Case-folded title (or label) -> the film ids that carry it."""
    names: dict[str, list[str]] = {}
    for name, film_id in zip(catalog[column].astype(str), catalog["film_id"].astype(str)):
        names.setdefault(name.casefold(), []).append(film_id)
    return names


def _catalog(panel: pd.DataFrame, storage_dir: Path) -> pd.DataFrame:
    films = panel.groupby("film_id", sort=False).agg(title=("title", "first"), release_date=("release_date", "first"),
                                                     weeks=("week", "max")).reset_index()
    films["year"] = pd.to_datetime(films["release_date"]).dt.year
    films["label"] = films["title"].astype(str) + " (" + films["year"].astype(str) + ")"
    showcase = set()
    catalog_path = asset_path("film_catalog", root=storage_dir)
    if catalog_path.exists():
        catalog = read_parquet_file(catalog_path, "film_catalog")[["film_id", "showcase"]]
        showcase = set(catalog.loc[catalog["showcase"].astype(bool), "film_id"].astype(str))
    films["showcase"] = films["film_id"].astype(str).isin(showcase)
    films = films.sort_values(["showcase", "title"], ascending=[False, True], ignore_index=True)
    return films[["film_id", "title", "year", "label", "showcase", "weeks"]]
