"""A value read from files, read again when one of the files changes on disk.

A long-running process (the demo) serves what the asset graph last materialized: the serving model,
the panel, the frame classifier. :class:`FileWatch` checks the files on every ``get`` (one ``stat``
each, keyed on modification time in ns and size) and loads again only when they changed. When the
changed files cannot be loaded (a materialization in progress, a broken file), the last good value
keeps serving and the reason is kept in ``error``; there is nothing to keep on the first load, so
that error is raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
_UNSET = object()


def file_stamp(path: Path) -> tuple:
    """(path, mtime_ns, size), or (path, None, None) when the file does not exist."""
    try:
        stat = Path(path).stat()
    except FileNotFoundError:
        return str(path), None, None
    return str(path), stat.st_mtime_ns, stat.st_size


class FileWatch(Generic[T]):
    """``load(files)`` cached until one of ``files()`` changes; thread-safe.

    ``files`` is called on every ``get``: it may itself read a small pointer file (serving.json)
    to say which files matter now. Either callable may raise; see the module docstring.
    """

    def __init__(self, files: Callable[[], Sequence[Path]], load: Callable[[Sequence[Path]], T]):
        self._files, self._load = files, load
        self._lock = threading.Lock()
        self._value = _UNSET
        self._stamps: tuple | None = None  # of the files the value was loaded from
        self._failed: tuple | None = None  # of the files that last failed: not read again until they change
        self.error: str | None = None

    def get(self) -> T:
        with self._lock:
            files, stamps = (), None
            try:
                files = tuple(Path(f) for f in self._files())
                stamps = tuple(file_stamp(f) for f in files)
                if self._value is _UNSET or stamps not in (self._stamps, self._failed):
                    value = self._load(files)
                    self._value, self._stamps, self._failed, self.error = value, stamps, None, None
            # Whatever a half-written or foreign file raises (pyarrow, json, torch and onnxruntime errors
            # share no base class), the last good value is the better answer; the reason is kept.
            except Exception as error:
                if self._value is _UNSET:
                    raise
                self._failed, self.error = stamps, _describe(error, files)
            return self._value


def _describe(error: Exception, files: Sequence[Path]) -> str:
    text = str(error)
    named = any(Path(f).name in text for f in files)
    return text if named or not files else f"{', '.join(Path(f).name for f in files)}: {text}"
