"""Errors a user can cause, each naming where the problem is and what to do about it."""

from __future__ import annotations

# How much of a text from the input a message repeats: a 1 MB film name must not make a 1 MB error.
MAX_SHOWN_CHARS = 2000


class CineSeqError(Exception):
    """Base class: the message is written for the person who has to fix the input."""


class InputFileError(CineSeqError):
    """A problem with a whole input file (unreadable, empty, missing columns)."""

    def __init__(self, path, problem: str, fix: str):
        self.path, self.problem, self.fix = str(path), clipped(problem), fix
        super().__init__(f"{self.path}: {self.problem}. {fix}")

    def __reduce__(self):
        # pickle rebuilds an exception from its args (the message); a worker process's error arrives whole
        return type(self), (self.path, self.problem, self.fix)


class FilmDataError(CineSeqError):
    """A problem with one film's data: fails that film's partition, not the others."""

    def __init__(self, film_id: str, problem: str, fix: str = "", *, source: str = "",
                 row: int | None = None, column: str | None = None):
        self.film_id, self.problem, self.fix = film_id, clipped(problem), fix
        self.source, self.row, self.column = source, row, column
        where = [f"film {clipped(repr(film_id), 200)}"]
        if source:
            where.insert(0, source)
        if row is not None:
            where.append(f"row {row}")
        if column:
            where.append(f"column {clipped(repr(column), 200)}")
        super().__init__(f"{', '.join(where)}: {self.problem}." + (f" {fix}" if fix else ""))


class SourceUnavailableError(CineSeqError):
    """A live source could not be reached or refused the request."""

    def __init__(self, source: str, what: str, reason: str, offline_hint: str):
        self.source = source
        super().__init__(f"{source} is unavailable for {what}: {reason}. {offline_hint}")


class ModelError(CineSeqError):
    """A trained model is missing, or its file cannot be used by this version."""

    def __init__(self, path, problem: str, fix: str):
        self.path, self.problem, self.fix = str(path), problem, fix
        super().__init__(f"{self.path}: {problem}. {fix}")


def printable(text, limit: int = MAX_SHOWN_CHARS) -> str:
    """``text`` for one line of a terminal or log: control characters (line breaks, escapes) written
    as ``\\n``-style escapes, and at most ``limit`` characters, saying how many more there were."""
    text = str(text)
    shown = "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text[:limit])
    return clipped(shown + text[limit:], len(shown)) if len(text) > limit else shown


def clipped(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """At most ``limit`` characters of ``text``, saying how many more there were."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"


class StoredFileError(CineSeqError):
    """A materialized file under the storage root cannot be read (truncated, overwritten, not Parquet)."""

    def __init__(self, path, asset: str, partition: str | None, reason: str):
        self.path, self.asset, self.partition, self.reason = str(path), asset, partition, reason
        if partition is None:
            what = f"the stored {asset!r}"
            fix = f"Materialize {asset} again: `cineseq run` does (it rebuilds what it cannot read), or the Dagster UI."
        else:
            what = f"partition {partition!r} of {asset!r}"
            fix = (f"`cineseq run` materializes it again (it rebuilds what it cannot read), or materialize {asset} "
                   f"for partition {partition} in the Dagster UI.")
        super().__init__(f"{self.path}: {what} cannot be read ({reason}). {fix}")
