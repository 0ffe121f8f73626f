"""What loading one user file found: repairs (warnings, logged on ``cineseq.userfile``) and the
problems that leave a film out, each naming the file, row and column; and the helpers that word them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ...errors import FilmDataError

logger = logging.getLogger("cineseq.userfile")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one film's rows."""

    film_id: str
    row: int
    column: str | None
    problem: str
    fix: str


class Report:
    """What loading one file found: repairs (warnings) and problems that reject a film."""

    def __init__(self, path: Path, sink: list | None, min_weeks: int):
        self.path, self.sink, self.min_weeks = path, sink, min_weeks
        self.headers: dict[str, str] = {}  # our column name -> the name in the user's file
        self.problems: list[Problem] = []
        self.warned: set[str] = set()

    def warn(self, message: str) -> None:
        """Log and keep one repair; the same one again (the tables are rebuilt without short films) is not repeated."""
        text = f"{self.path}: {message}"
        if text in self.warned:
            return
        self.warned.add(text)
        logger.warning(text)
        if self.sink is not None:
            self.sink.append(text)

    def problem(self, film_id: str, row: int, column: str | None, problem: str, fix: str) -> None:
        self.problems.append(Problem(film_id, int(row), column, problem, fix))

    def film_errors(self) -> dict[str, FilmDataError]:
        """The first problem of each film (by row), noting how many more there are."""
        by_film: dict[str, list[Problem]] = {}
        for problem in self.problems:
            by_film.setdefault(problem.film_id, []).append(problem)
        errors = {}
        for film_id, found in by_film.items():
            first, more = min(found, key=lambda p: p.row), len(found) - 1
            fix = first.fix + (f" ({more} more problem{'s' * (more > 1)} in this film's rows.)" if more else "")
            column = self.headers.get(first.column, first.column) if first.column else None
            errors[film_id] = FilmDataError(film_id, first.problem, fix, source=str(self.path),
                                            row=first.row, column=column)
        return errors


def quoted(names, last_joiner: str = ", ") -> str:
    """['a', 'b', 'c'] -> "'a', 'b' and 'c'" (with last_joiner=' and ')."""
    names = [repr(str(name)) for name in names]
    return ", ".join(names[:-1]) + last_joiner + names[-1] if len(names) > 1 else "".join(names)


def rows_text(rows) -> str:
    rows = [str(row) for row in rows]
    shown = ", ".join(rows[:10]) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
    return f"row{'s' * (len(rows) > 1)} {shown}"
