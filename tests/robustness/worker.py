"""A child process that runs many bad inputs, one request at a time, and reports each one's peak memory.

The robustness tests send it JSON lines on stdin and read one JSON line back per request:

    {"kind": "userfile", "path": ...}          load_user_file: loaded (films, rejected, warnings) or refused
    {"kind": "image", "path": ...}             media.images.read_image (cineseq classify, the Frames tab)
    {"kind": "new_film", "weeks": [...], ...}  the demo's New film path: write_weekly_file, then first_film_panel
    {"kind": "cli", "argv": [...], "umask": 0o027, "patch": {"module.NAME": value}}
                                               cineseq_assets.cli.main: exit code, stdout, stderr

Before each request the peak RSS is reset (``/proc/self/clear_refs``); the answer carries the peak of
that request alone (``VmHWM``), so one process serves every row and its start-up (torch, pandas) is
paid once. A watchdog ends the process if its memory passes ``HARD_LIMIT_MB``: an unbounded input
must fail its test, not take the machine down.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import sys
import threading
import time
import traceback
from pathlib import Path

HARD_LIMIT_MB = int(os.environ.get("ROBUSTNESS_HARD_LIMIT_MB", "4000"))


def _status_mb(field: str) -> float:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text())[1]) / 1024


def _watchdog() -> None:
    while True:
        if _status_mb("VmRSS") > HARD_LIMIT_MB:
            sys.__stdout__.write(json.dumps({"outcome": "killed", "peak_rss_mb": _status_mb("VmHWM")}) + "\n")
            sys.__stdout__.flush()
            os._exit(3)
        time.sleep(0.02)


def _userfile(request: dict) -> dict:
    from cineseq_assets.boxoffice.userfile import load_user_file

    warnings: list[str] = []
    data = load_user_file(request["path"], warnings, min_weeks=request.get("min_weeks", 1))
    return {"outcome": "loaded", "films": data.films["film_id"].astype(str).tolist(), "rejected": data.rejected,
            "warnings": warnings}


def _image(request: dict) -> dict:
    from cineseq_assets.media.images import read_image

    return {"outcome": "loaded", "shape": list(read_image(request["path"]).shape)}


def _new_film(request: dict) -> dict:
    import pandas as pd

    from cineseq_assets.forecast.new_films import first_film_panel, write_weekly_file

    path = Path(request["folder"]) / "new_film.csv"
    write_weekly_file(pd.DataFrame(request["weeks"]), path, release_date=request["release_date"],
                      genres=request.get("genres"), budget=request.get("budget"), mpaa=request.get("mpaa"))
    warnings: list[str] = []
    panel = first_film_panel(path, warnings=warnings)
    return {"outcome": "loaded", "weeks": int(panel["week"].max()), "warnings": warnings}


def _cli(request: dict) -> dict:
    from cineseq_assets.cli import main

    patched = []
    for name, value in request.get("patch", {}).items():
        module, attribute = name.rsplit(".", 1)
        target = importlib.import_module(module)
        patched.append((target, attribute, getattr(target, attribute)))
        setattr(target, attribute, value)
    old_umask = os.umask(request["umask"]) if "umask" in request else None
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(request["argv"])
            except SystemExit as done:  # argparse's usage errors
                code = done.code
    finally:
        if old_umask is not None:
            os.umask(old_umask)
        for target, attribute, value in patched:
            setattr(target, attribute, value)
    return {"outcome": "exit", "code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


HANDLERS = {"userfile": _userfile, "image": _image, "new_film": _new_film, "cli": _cli}


def serve() -> None:
    from cineseq_assets.errors import CineSeqError

    threading.Thread(target=_watchdog, daemon=True).start()
    sys.__stdout__.write(json.dumps({"ready": True}) + "\n")
    sys.__stdout__.flush()
    for line in sys.stdin:
        request = json.loads(line)
        Path("/proc/self/clear_refs").write_text("5")  # the peak below is this request's own
        started = time.perf_counter()
        try:
            answer = HANDLERS[request["kind"]](request)
        except CineSeqError as error:
            answer = {"outcome": "refused", "type": type(error).__name__, "message": str(error)}
        except Exception as error:  # the robustness tests fail on this outcome, with the traceback
            answer = {"outcome": "crashed", "type": type(error).__name__, "message": str(error)[:2000],
                      "traceback": traceback.format_exc()[-4000:]}
        answer.update(peak_rss_mb=round(_status_mb("VmHWM")), seconds=round(time.perf_counter() - started, 2))
        sys.__stdout__.write(json.dumps(answer, default=str) + "\n")
        sys.__stdout__.flush()


if __name__ == "__main__":
    # Warm the imports a request would otherwise pay for, so that its peak memory is its own. A module
    # that cannot be imported fails the requests that need it, not the worker.
    for module in ("cineseq_assets.boxoffice.userfile", "cineseq_assets.cli", "cineseq_assets.forecast.cli_forecast",
                   "cineseq_assets.forecast.new_films", "cineseq_assets.media.images"):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    serve()
