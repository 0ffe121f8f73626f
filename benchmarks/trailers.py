"""Trailer analysis speed: realtime factor (seconds of video per second of processing) at 2 frames/s.

    python benchmarks/trailers.py [--repeat 3]

Videos: Big Buck Bunny (real 1280x720, 5.3 s) and the face clip WolfgangLanger_Pexels upscaled to
1280x720 (19.7 s, a face in every frame; made once in a temporary folder with PyAV). For each
detector (SCRFD in int8 and fp32, YuNet) and emotion model (the teacher, and the student when one is
trained), the models are loaded once and warmed up, then each video is analysed ``--repeat`` times; the table
shows the median realtime factor and the share of time per stage. Target: >= 10x with the student.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("CINESEQ_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("CINESEQ_MODEL_DIR", str(SHARED / "models"))


def upscale_to_720p(source: Path, target: Path) -> Path:
    """Re-encode ``source`` at 1280x720 (H.264, same frame rate) so the benchmark has a 720p face clip."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream("libx264", rate=in_stream.average_rate)
        out_stream.width, out_stream.height, out_stream.pix_fmt = 1280, 720, "yuv420p"
        for frame in src.decode(in_stream):
            for packet in out_stream.encode(frame.reformat(width=1280, height=720, format="yuv420p")):
                dst.mux(packet)
        for packet in out_stream.encode():
            dst.mux(packet)
    return target


def time_analyzer(analyzer, videos: list[Path], repeat: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median realtime factor per video (after one warm-up analysis), and the share of time per stage."""
    analyzer.analyze(videos[0])
    factors, stages = {}, {}
    for video in videos:
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            analysis = analyzer.analyze(video)
            runs.append(analysis.summary["duration_s"] / (time.perf_counter() - started))
            for stage, seconds in analysis.summary["seconds_by_stage"].items():
                stages[stage] = stages.get(stage, 0.0) + seconds
        factors[video.name] = statistics.median(runs)
    total = sum(stages.values())
    return factors, {stage: seconds / total for stage, seconds in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from cineseq_assets.trailers.emotions import default_student_path, load_emotion_model
    from cineseq_assets.trailers.faces import make_detector
    from cineseq_assets.trailers.pipeline import TrailerAnalyzer, TrailerConfig

    with tempfile.TemporaryDirectory() as scratch:
        videos = [SHARED / "media" / "bigbuckbunny_5s_720p.mp4",
                  upscale_to_720p(SHARED / "media" / "WolfgangLanger_Pexels.mp4", Path(scratch) / "faces_720p.mp4")]
        students = [p for p in (default_student_path(), default_student_path().with_name("student_candidate.onnx")) if p.exists()]
        emotion_models = ["teacher"] + (["student"] if students else [])
        print(f"Realtime factor, median of {args.repeat} runs, {os.cpu_count()} cores, 2 frames/s")
        print(f"| detector (size) | emotion model | {' | '.join(v.name for v in videos)} "
              "| time: frames / faces / emotions / audio |")
        print("|---|---|" + "---|" * (len(videos) + 1))
        # (detector, size, precision): SCRFD's precision is not a TrailerConfig field, so the detector is built here.
        rows = (("scrfd", None, "int8"), ("scrfd", None, "fp32"), ("scrfd", 320, "int8"),
                ("yunet", None, None), ("yunet", 640, None))
        for detector, size, precision in rows:
            options = {"precision": precision} if precision else {}
            if size:
                options["input_size" if detector == "scrfd" else "max_side"] = size
            for emotion in emotion_models:
                config = TrailerConfig(detector=detector, detection_size=size)
                faces = make_detector(detector, **options)
                model = load_emotion_model(emotion, student_path=students[0] if students else None)
                analyzer = TrailerAnalyzer(config, detector=faces, emotion_model=model)
                factors, shares = time_analyzer(analyzer, videos, args.repeat)
                split = " / ".join(f"{shares[s]:.0%}" for s in ("frames", "faces", "emotions", "audio"))
                label = f"{detector} ({size or 'default'}{', ' + precision if precision else ''})"
                cells = " | ".join(f"{factors[v.name]:.1f}x" for v in videos)
                print(f"| {label} | {emotion} | {cells} | {split} |", flush=True)
        if "student" not in emotion_models:
            print("(no trained student: materialize trailer_emotion_student, or run benchmarks/student.py)")


if __name__ == "__main__":
    main()
