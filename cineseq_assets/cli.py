"""``cineseq``: the project's command line.

    cineseq films [--showcase] [--search TEXT]     list the film catalog
    cineseq run [--films all|showcase|ID,ID...] [--no-forecast] [--no-student] [--no-frames] [--no-evaluation]
                [--force] [--workers N | --scheduler ADDRESS]
                                                    materialize what is missing or stale in the default graph
    cineseq trailer VIDEO [--out FILE.parquet] [--json]   one trailer's emotion embedding, without Dagster
    cineseq forecast --input FILE --out FILE [--out-final FILE] [--model WEIGHTS.parquet] [--onnx]
                                                    the next 4 weeks of every film in a daily or weekly file
    cineseq classify PATH [PATH ...] [--json] [--model WEIGHTS.parquet]
                                                    genres and budget class of images or videos
    cineseq models [fetch NAME...|--all|prepare]    third-party model files: status, obtain them, or derive
                                                    the int8 face detector once
    cineseq demo [--host 127.0.0.1] [--port 7860]   the Gradio demo, served from the latest materialized model
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path


def cmd_films(args: argparse.Namespace) -> int:
    from .boxoffice.catalog import catalog_table
    from .definitions import default_resources

    catalog = catalog_table(default_resources()["box_office"].load())
    if args.showcase:
        catalog = catalog[catalog["showcase"]]
    if args.search:
        catalog = catalog[catalog["title"].str.contains(args.search, case=False, regex=False)]
    shown = catalog.assign(release_date=catalog["release_date"].dt.date, total_gross=(catalog["total_gross"] / 1e6).round(1))
    columns = ["film_id", "title", "release_date", "release_width", "usable_weeks", "total_gross", "showcase"]
    print(shown[columns].rename(columns={"total_gross": "gross_$M"}).to_string(index=False, max_rows=args.limit))
    print(f"\n{len(catalog)} films")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .dagster_instance import prepare_dagster_home
    from .errors import CineSeqError

    try:
        print(prepare_dagster_home(), flush=True)  # SQLite by default, PostgreSQL with CINESEQ_INSTANCE=postgres
    except CineSeqError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    set_torch_threads()
    from .runner import RunOptions, deprecated_options, run_default_graph

    started = time.perf_counter()
    include = tuple(name.strip() for name in args.include.split(",") if name.strip())
    options = RunOptions(films=args.films, forecast=not args.no_forecast, student=not args.no_student,
                         frames=not args.no_frames, evaluation=not args.no_evaluation, include=include, force=args.force,
                         workers=args.workers, scheduler=args.scheduler)
    notes = deprecated_options(options)
    if args.frames:
        notes.insert(0, "--frames: no longer needed, the frame classifier runs by default when its inputs are found "
                        "(--no-frames leaves it out)")
    for note in notes:
        print(f"note: {note}", file=sys.stderr, flush=True)
    try:
        ok = run_default_graph(options, log=lambda message: print(message, flush=True))
    except CineSeqError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{'done' if ok else 'FAILED'} in {time.perf_counter() - started:.0f} s", flush=True)
    return 0 if ok else 1


TORCH_THREADS = 2  # what training was measured with (README, docs/forecasting.md); CINESEQ_TORCH_THREADS overrides


def set_torch_threads() -> None:
    """PyTorch's intra-op threads for the commands that train or run a network. Process-wide state,
    so the command line sets it, never library code."""
    import torch

    torch.set_num_threads(int(os.environ.get("CINESEQ_TORCH_THREADS") or TORCH_THREADS))


def cmd_trailer(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from .errors import CineSeqError
    from .storage import write_parquet_atomic
    from .trailers.pipeline import TrailerAnalyzer, TrailerConfig

    if args.out and Path(args.out).is_dir():
        print(f"error: {args.out} is a folder: give --out a file name, e.g. {Path(args.out) / 'embedding.parquet'}",
              file=sys.stderr)
        return 2
    config = TrailerConfig(sample_rate=args.rate, detector=args.detector, emotion_model=args.emotion_model)
    try:
        analysis = TrailerAnalyzer(config).analyze(args.video)
    except CineSeqError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.out:
        row = {"video": str(args.video), **analysis.embedding, "detector": args.detector,
               "emotion_model": analysis.summary["emotion_model"], "schema_version": analysis.summary["schema_version"]}
        write_parquet_atomic(pd.DataFrame([row]), Path(args.out))
    summary = {key: value for key, value in analysis.summary.items() if key != "config"}
    if summary["frames_truncated"]:
        print(f"warning: {args.video}: {_truncation_text(summary)}; the embedding covers only that part. "
              "The file is probably truncated: fetch or export it again.", file=sys.stderr)
    if args.json:
        print(json.dumps(summary))
    else:
        for key in ("duration_s", "resolution", "frames_sampled", "frames_with_faces", "faces_found", "shots",
                    "has_audio", "audio_silent", "detector", "emotion_model", "processing_s", "realtime_factor"):
            print(f"{key:>18}: {summary[key]}")
        if summary["frames_truncated"]:
            print(f"{'truncated':>18}: {_truncation_text(summary)}")
        if args.out:
            print(f"{'embedding':>18}: {args.out} ({len(analysis.embedding)} columns)")
    return 0


def _truncation_text(summary: dict) -> str:
    return (f"decoded {summary['decoded_s']:.1f} s of the {summary['duration_s']:.1f} s it declares "
            f"({summary['truncation']})")


def _positive_rate(text: str) -> float:
    """--rate: frames per second, a finite number above zero (argparse reports anything else)."""
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not (0 < rate < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of frames per second above 0 (e.g. 2)")
    return rate


def cmd_forecast(args: argparse.Namespace) -> int:
    import logging

    from .errors import CineSeqError
    from .forecast.cli_forecast import final_total_model, forecast_file_totals, load_forecaster
    from .storage import Storage, write_bytes_atomic

    started = time.perf_counter()
    out_final = args.out_final or Path(args.out).with_name(f"{Path(args.out).stem}_final{Path(args.out).suffix or '.csv'}")
    folder = next((path for path in (args.out, out_final) if Path(path).is_dir()), None)
    if folder is not None:
        print(f"error: {folder} is a folder: give --out (and --out-final) a file name, e.g. {Path(folder) / 'forecast.csv'}",
              file=sys.stderr)
        return 2
    set_torch_threads()
    # Repairs and left-out films are printed below, once each: not again by the loader's logger.
    logging.getLogger("cineseq.userfile").addHandler(logging.NullHandler())
    repairs: list[str] = []
    try:
        model, served = load_forecaster(args.model, Storage.default().root, onnx=args.onnx)
        forecast, totals, rejected = forecast_file_totals(args.input, model, final_total_model(served), warnings=repairs,
                                                          progress=_progress_printer(args.input, started))
    except CineSeqError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    films = forecast["film_id"].nunique()
    if not films and Path(args.out).exists():
        # A run that forecast nothing must not replace the last good forecast with an empty table.
        _forecast_report(repairs, rejected, f"forecast 0 films, rejected {len(rejected)}, {time.perf_counter() - started:.1f} s: "
                         f"{args.out} left as it was (nothing to replace it with)")
        return 1
    write_bytes_atomic(_csv_text(forecast), Path(args.out))
    if totals is not None and films:
        write_bytes_atomic(_csv_text(totals), out_final)
    elif totals is None:
        repairs.append(f"no final domestic totals: {served.name} was stored without them (materialize forecast_model again)")
    _forecast_report(repairs, rejected, f"forecast {films} film{'s' * (films != 1)}, rejected {len(rejected)}, "
                     f"model {served}, {time.perf_counter() - started:.1f} s -> {args.out}"
                     + (f", final totals -> {out_final}" if totals is not None and films else ""))
    return 0 if films else 1


# Inputs at least this large print what the command is doing (a 228 MB file takes minutes).
PROGRESS_BYTES = 10 * 2**20


def _progress_printer(path: Path, started: float):
    """A callable that prints a stage line on stderr with the elapsed time, for a large input; None otherwise."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        return None  # the loader names the missing file
    if size < PROGRESS_BYTES:
        return None
    print(f"reading {path} ({size / 2**20:,.0f} MB)...", file=sys.stderr, flush=True)
    return lambda message: print(f"  {message} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)


def _csv_text(table) -> bytes:
    return table.to_csv(index=False, float_format="%.0f").encode()


def _forecast_report(repairs: list[str], rejected: dict[str, str], summary: str) -> None:
    """On stderr: the loader's repairs, the one-line summary, then every film not forecast with its reason
    (one line each: a film id or value with a line break in it is printed escaped)."""
    from .errors import printable

    for repair in repairs:
        print(f"warning: {printable(repair)}", file=sys.stderr)
    print(summary, file=sys.stderr)
    for film_id, reason in rejected.items():
        print(f"rejected {printable(film_id, 200)}: {printable(reason)}", file=sys.stderr)


def cmd_classify(args: argparse.Namespace) -> int:
    """Every path is classified; a bad one is reported on stderr and the others still print."""
    import json

    from .errors import CineSeqError
    from .frames.classifier import classify_path, load_classifier, load_serving
    from .storage import Storage

    set_torch_threads()
    try:
        classifier = load_classifier(args.model) if args.model else load_serving(Storage.default().root)
    except CineSeqError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = 0
    for path in args.paths:
        try:
            result = classify_path(classifier, path)
        except CineSeqError as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            print(json.dumps(result.as_json()), flush=True)
        else:
            _print_classification(result)
    return 2 if failed else 0


def _print_classification(result) -> None:
    frames = "1 image" if result.kind == "image" else f"{result.frames} representative frames"
    print(f"{result.path} ({frames})")
    print(f"  genres: {', '.join(result.predicted_genres) or '(none above threshold)'}")
    for genre, p in sorted(result.genres.items(), key=lambda item: -item[1]):
        print(f"    {genre:<10} {p:.2f}")
    print(f"  budget: {result.predicted_budget}")
    for budget_class, p in result.budget.items():
        print(f"    {budget_class:<10} {p:.2f}")


def cmd_models(args: argparse.Namespace) -> int:
    from . import model_files as models

    if args.action == "fetch":
        names = list(models.REGISTRY) if args.all else args.names
        if not names:
            print("name the models to fetch (see `cineseq models`), or pass --all", file=sys.stderr)
            return 2
        failed = 0
        for name in names:
            try:
                print(f"{name}: {models.fetch(name)}")
            except models.CineSeqError as error:
                failed += 1
                print(f"{name}: {error}", file=sys.stderr)
        return 1 if failed else 0
    if args.action == "prepare":
        return _prepare_derived_models()
    print(models.format_status(models.status()))
    print(_derived_models_status())
    return 0


def _prepare_derived_models() -> int:
    """Derive the int8 SCRFD from the float file and the shared clips, once per machine."""
    from .errors import CineSeqError
    from .model_files import locate
    from .trailers.quantize import int8_scrfd, prepared_int8

    try:
        source = locate("scrfd_2.5g_kps")
        if (ready := prepared_int8(source)) is not None:
            print(f"scrfd_2.5g_kps int8: already prepared ({ready})")
            return 0
        print("scrfd_2.5g_kps int8: deriving from the float model and the shared clips (10-20 s, once)", flush=True)
        started = time.perf_counter()
        path = int8_scrfd(source)
    except CineSeqError as error:
        print(f"scrfd_2.5g_kps int8: {error}", file=sys.stderr)
        return 1
    print(f"scrfd_2.5g_kps int8: prepared in {time.perf_counter() - started:.0f} s ({path})")
    return 0


def _derived_models_status() -> str:
    from .errors import CineSeqError
    from .model_files import locate
    from .trailers.quantize import int8_path, prepared_int8

    try:
        source = locate("scrfd_2.5g_kps")
    except CineSeqError:
        return "\nDerived: scrfd_2.5g_kps int8: needs the float model first"
    ready = prepared_int8(source)
    state = f"prepared ({ready})" if ready else \
        f"not prepared: run `cineseq models prepare` (faces run in fp32 until then; would be {int8_path(source)})"
    return f"\nDerived: scrfd_2.5g_kps int8: {state}"


def cmd_demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from demo.app import launch

    set_torch_threads()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: anyone who can reach this address can use the demo", file=sys.stderr)
    print(f"CineSeq demo: http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{args.port}  (Ctrl-C to stop)")
    launch(args.host, args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    parser = argparse.ArgumentParser(prog="cineseq", description="CineSeq: decay-aware box-office forecasting on Dagster.")
    commands = parser.add_subparsers(dest="command", required=True)
    films = commands.add_parser("films", help="list the film catalog")
    films.add_argument("--showcase", action="store_true", help="only the showcase films")
    films.add_argument("--search", help="case-insensitive part of a title")
    films.add_argument("--limit", type=int, default=60, help="rows to print (default 60)")
    films.set_defaults(func=cmd_films)
    run = commands.add_parser("run", help="materialize the default asset graph (catalog, panel, decay, forecaster, "
                                          "and the optional parts whose inputs are found)")
    run.add_argument("--films", default="all", help="all (default), showcase, or comma-separated film ids")
    run.add_argument("--no-forecast", action="store_true",
                     help="stop after the panel and decay diagnostics: train nothing (no student, frame classifier, "
                          "forecaster or evaluation) and forecast nothing")
    run.add_argument("--no-student", action="store_true",
                     help="leave out trailer_emotion_student (distilling the emotion student from the teacher)")
    run.add_argument("--no-frames", action="store_true",
                     help="leave out the frame classifier and every trailer's representative frames and frame predictions")
    run.add_argument("--no-evaluation", action="store_true",
                     help="leave out forecast_evaluation (every network and baseline scored on held-out test films)")
    run.add_argument("--frames", action="store_true", help=argparse.SUPPRESS)  # the default now: kept for old commands
    run.add_argument("--include", default="", metavar="STAGE,...", help=argparse.SUPPRESS)  # likewise
    run.add_argument("--force", action="store_true",
                     help="recompute every selected asset and film, also those that are up to date")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="Dask worker processes of the local cluster for the per-film stages (default: one per core; "
                          "0: no cluster, films one after the other in this process)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="an existing Dask scheduler instead, e.g. tcp://host:8786 (default: $CINESEQ_DASK_SCHEDULER); "
                          "its workers must see the same files: see the README")
    run.set_defaults(func=cmd_run)
    trailer = commands.add_parser("trailer", help="one trailer's emotion embedding (same code as the Dagster asset)")
    trailer.add_argument("video", type=Path)
    trailer.add_argument("--out", type=Path, help="write the embedding row to this Parquet file")
    trailer.add_argument("--json", action="store_true", help="print the summary as JSON")
    trailer.add_argument("--rate", type=_positive_rate, default=2.0, help="frames sampled per second (default 2)")
    trailer.add_argument("--detector", default="scrfd", choices=["scrfd", "yunet"])
    trailer.add_argument("--emotion-model", default="student", choices=["student", "teacher", "ferplus"])
    trailer.set_defaults(func=cmd_trailer)
    forecast = commands.add_parser("forecast", help="forecast the next 4 weeks of every film in a file (docs/user_data.md)")
    forecast.add_argument("--input", type=Path, required=True, metavar="FILE",
                          help="daily or weekly box office file (.csv, .csv.gz, .parquet), or Box Office Mojo chart rows")
    forecast.add_argument("--out", type=Path, required=True, metavar="FILE",
                          help="CSV to write: film_id, origin_week, horizon, week, p10, p50, p90")
    forecast.add_argument("--out-final", type=Path, metavar="FILE",
                          help="CSV of each film's final domestic total, p10/p50/p90 and the multiplier baseline "
                               "(default: the --out name with _final before its suffix)")
    forecast.add_argument("--model", type=Path, metavar="WEIGHTS",
                          help="weights file to use (default: the latest materialized forecast_model)")
    forecast.add_argument("--onnx", action="store_true",
                          help="run the network with onnxruntime from the .onnx file beside the weights file")
    forecast.set_defaults(func=cmd_forecast)
    classify = commands.add_parser("classify", help="predicted genres and budget class of images or videos (frame classifier)")
    classify.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                          help="images (.jpg, .png, ...) or videos (.mp4, .mov, ...)")
    classify.add_argument("--json", action="store_true",
                          help="one JSON object per input: path, genres (label -> probability), budget (class -> probability)")
    classify.add_argument("--model", type=Path, metavar="WEIGHTS",
                          help="weights file to use (default: the serving model in storage/frame_classifier)")
    classify.set_defaults(func=cmd_classify)
    model_files = commands.add_parser("models", help="third-party model files: where they are, fetch them, "
                                                     "or prepare the int8 face detector")
    model_files.add_argument("action", nargs="?", choices=["status", "fetch", "prepare"], default="status",
                             help="status (default); fetch NAME... or --all; prepare: derive the int8 face detector")
    model_files.add_argument("names", nargs="*", help="models to fetch")
    model_files.add_argument("--all", action="store_true", help="fetch every model that can be fetched")
    model_files.set_defaults(func=cmd_models)
    demo = commands.add_parser("demo", help="serve the Gradio demo from the latest materialized model")
    demo.add_argument("--host", default="127.0.0.1",
                      help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 exposes it to the network)")
    demo.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    demo.set_defaults(func=cmd_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
