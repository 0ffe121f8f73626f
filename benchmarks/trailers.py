"""Trailer analysis speed at 2 frames/s: CPU per stage, realtime factor, and whether the faces stay the same.

    python benchmarks/trailers.py [--repeat 3] [--quick]

The clip: the shared clips joined into one 31 s 1280x720 H.264 trailer (x264 defaults, 25 fps, AAC):
a face with changing expressions (WolfgangLanger_Pexels), a face then none (face_noface.mov), a
cartoon (Big Buck Bunny); its sound is silence, then speech, then music. It is made once in a
temporary folder with PyAV.

Tables:
1. Per detector setting (models loaded once and warmed up): CPU milliseconds per sampled frame of
   each stage measured alone (decode, detect, emotions, audio), and the realtime factor of the
   whole analysis (seconds of video per second of wall time, median of ``--repeat`` runs); and
   the faces against a reference, as the pipeline found them before (every frame decoded, SCRFD in
   fp32): sampled frames whose face count differs, and the IoU of each reference face's best match.
3. The first trailer of a fresh process: ``cineseq trailer`` as a user runs it (loading included).
4. SCRFD frames per inference call (batch 1, 2, 4) in fp32, one and two threads: whether batching
   frames pays on this machine.
Target (issue): >= 10x realtime with the default settings, the same faces (IoU >= 0.9).
"""

from __future__ import annotations

import argparse
import fractions
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("CINESEQ_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("CINESEQ_MODEL_DIR", str(SHARED / "models"))

CLIP_PARTS = ("WolfgangLanger_Pexels.mp4", "face_noface.mov", "bigbuckbunny_5s_720p.mp4")
CLIP_FPS, CLIP_AUDIO_RATE, CLIP_SIZE = 25, 48000, (1280, 720)


def make_clip(target: Path, parts=CLIP_PARTS) -> Path:
    """Join the shared clips into one 720p H.264/AAC file, each part keeping its duration."""
    import av

    video_frames, audio = [], []
    for name in parts:
        with av.open(str(SHARED / "media" / name)) as source:
            stream = source.streams.video[0]
            decoded = [(float(frame.pts * stream.time_base), frame.reformat(
                width=CLIP_SIZE[0], height=CLIP_SIZE[1], format="yuv420p").to_ndarray()) for frame in source.decode(stream)]
        start, duration = decoded[0][0], decoded[-1][0] - decoded[0][0] + 1 / CLIP_FPS
        shown = 0
        for tick in range(round(duration * CLIP_FPS)):  # constant frame rate: the frame on screen at each tick
            while shown + 1 < len(decoded) and decoded[shown + 1][0] - start <= tick / CLIP_FPS + 1e-6:
                shown += 1
            video_frames.append(decoded[shown][1])
        audio.append(_audio_of(SHARED / "media" / name, round(duration * CLIP_FPS) / CLIP_FPS))
    with av.open(str(target), "w") as output:
        video = output.add_stream("libx264", rate=CLIP_FPS)
        video.width, video.height, video.pix_fmt = *CLIP_SIZE, "yuv420p"
        sound = output.add_stream("aac", rate=CLIP_AUDIO_RATE)
        sound.layout = "stereo"
        for index, pixels in enumerate(video_frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="yuv420p")
            frame.pts, frame.time_base = index, fractions.Fraction(1, CLIP_FPS)
            output.mux(video.encode(frame))
        output.mux(video.encode())
        samples = np.concatenate(audio, axis=1)
        for start in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]),
                                               format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = CLIP_AUDIO_RATE, start
            frame.time_base = fractions.Fraction(1, CLIP_AUDIO_RATE)
            output.mux(sound.encode(frame))
        output.mux(sound.encode())
    return target


def _audio_of(path: Path, seconds: float) -> np.ndarray:
    """The file's first audio track as stereo float32 at the clip's rate, cut or padded to `seconds`."""
    import av

    with av.open(str(path)) as source:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=CLIP_AUDIO_RATE)
        chunks = [out.to_ndarray() for frame in source.decode(source.streams.audio[0]) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray() for out in resampler.resample(None)]
    samples, wanted = np.concatenate(chunks, axis=1).astype(np.float32), round(seconds * CLIP_AUDIO_RATE)
    return np.pad(samples, ((0, 0), (0, max(0, wanted - samples.shape[1]))))[:, :wanted]


def cpu_ms(function, repeat: int) -> tuple[float, object]:
    """Median CPU milliseconds of `function()` (all threads of this process), and its last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.process_time()
        result = function()
        times.append(1000 * (time.process_time() - started))
    return statistics.median(times), result


def reference_faces(clip: Path) -> list[list]:
    """Faces per sampled frame as the pipeline found them before: every frame decoded, SCRFD in fp32."""
    import av

    from cineseq_assets.trailers.faces import ScrfdDetector

    detector, faces, next_time = ScrfdDetector(precision="fp32", threads=1), [], 0.0
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            if frame.time >= next_time - 1e-4:
                faces.append(detector.detect(frame.to_ndarray(format="bgr24")))
                next_time = (np.floor((frame.time + 1e-4) * 2.0) + 1) / 2.0
    return faces


def compare_faces(found: list[list], reference: list[list]) -> tuple[int, float, float]:
    """Frames whose face count differs, and the smallest and median IoU of each reference face's best match."""
    from cineseq_assets.trailers.faces import box_iou

    differing = sum(len(a) != len(b) for a, b in zip(found, reference)) + abs(len(found) - len(reference))
    overlaps = [max((box_iou(face.box, other.box) for other in ours), default=0.0)
                for ours, theirs in zip(found, reference) for face in theirs]
    return differing, min(overlaps, default=float("nan")), statistics.median(overlaps) if overlaps else float("nan")


def stage_costs(clip: Path, detector, emotions, decoder_threads: int | None,
                repeat: int) -> tuple[dict[str, float], list[list]]:
    """CPU ms per sampled frame of each stage alone, with the settings the pipeline uses; and the faces."""
    from cineseq_assets.media.video import sample_frames
    from cineseq_assets.trailers.audio import audio_features, load_audio
    from cineseq_assets.trailers.faces import crop_face

    decode, frames = cpu_ms(lambda: [f.image_bgr for f in sample_frames(clip, 2.0, 1280, threads=decoder_threads)], repeat)
    detect, faces = cpu_ms(lambda: [detector.detect(image) for image in frames], repeat)
    crops = [[crop_face(image, face, emotions.contract.face_margin_px) for face in found]
             for image, found in zip(frames, faces)]
    emotion, _ = cpu_ms(lambda: [emotions.predict(c) for c in crops if c], repeat)
    audio_features(load_audio(clip))  # librosa compiles its numba kernels on first use
    audio, _ = cpu_ms(lambda: audio_features(load_audio(clip)), repeat)
    costs = {name: value / len(frames) for name, value in
             (("decode", decode), ("detect", detect), ("emotions", emotion), ("audio", audio))}
    return costs, faces


def realtime(analyzer, clip: Path, repeat: int):
    analyzer.analyze(clip)  # warm-up
    runs, analysis = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        analysis = analyzer.analyze(clip)
        runs.append(analysis.summary["duration_s"] / (time.perf_counter() - started))
    return statistics.median(runs), analysis.summary, analysis.visual


def first_trailer(clip: Path, duration_s: float) -> float:
    """Realtime factor of `cineseq trailer` in a new process, loading included."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cineseq_assets.cli", "trailer", str(clip), "--json"],
                   check=True, capture_output=True, env=os.environ | {"PYTHONWARNINGS": "ignore"})
    return duration_s / (time.perf_counter() - started)


def batching(frames: list[np.ndarray], repeat: int) -> list[tuple[int, int, float]]:
    """(threads, batch, CPU ms per frame) of SCRFD fp32 on 640x384 inputs, batch dimension freed in the graph."""
    from onnx import numpy_helper

    from cineseq_assets.model_files import locate
    from cineseq_assets.processes import onnx_cpu_session
    from cineseq_assets.trailers.scrfd import dynamic_scrfd_graph, network_inputs

    graph = dynamic_scrfd_graph(locate("scrfd_2.5g_kps"))
    shapes = {init.name: init for init in graph.graph.initializer}
    for node in graph.graph.node:  # Reshape(1, -1, k) -> Reshape(0, -1, k): keep the batch dimension
        if node.op_type == "Reshape" and node.input[1] in shapes:
            shape = numpy_helper.to_array(shapes[node.input[1]]).copy()
            if shape[0] == 1:
                shape[0] = 0
                shapes[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
    graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    for output in graph.graph.output:
        output.type.tensor_type.shape.dim[0].dim_param = "batch"
    blobs = [network_inputs(frame)[0] for frame in frames[:24]]
    rows = []
    for threads in (1, 2):
        session = onnx_cpu_session(graph.SerializeToString(), threads)
        name = session.get_inputs()[0].name
        for batch in (1, 2, 4):
            def run(session=session, name=name, batch=batch):
                for start in range(0, len(blobs), batch):
                    session.run(None, {name: np.concatenate(blobs[start:start + batch])})
            run()
            rows.append((threads, batch, cpu_ms(run, repeat)[0] / len(blobs)))
    return rows


SETTINGS = [  # label, TrailerConfig overrides
    ("SCRFD 640 int8, frames in parallel (the default)", {}),
    ("SCRFD 640 int8, one frame at a time, FFmpeg's threads", {"frame_workers": 1, "decoder_threads": None}),
    ("SCRFD 640 fp32", {"detection_precision": "fp32"}),
    ("SCRFD 320 int8", {"detection_size": 320}),
    ("YuNet, full frame", {"detector": "yunet"}),
    ("YuNet 640", {"detector": "yunet", "detection_size": 640}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="only the first two settings")
    args = parser.parse_args()
    from cineseq_assets.media.video import probe
    from cineseq_assets.trailers.emotions import load_emotion_model
    from cineseq_assets.trailers.faces import make_detector
    from cineseq_assets.trailers.pipeline import TrailerAnalyzer, TrailerConfig, _detector_options

    with tempfile.TemporaryDirectory() as scratch:
        clip = make_clip(Path(scratch) / "trailer_720p.mp4")
        info = probe(clip)
        print(f"Clip: {info.width}x{info.height} {info.codec}, {info.duration_s:.1f} s, {info.fps:g} fps; "
              f"{os.cpu_count()} cores; 2 sampled frames/s; medians of {args.repeat}")
        reference = reference_faces(clip)
        emotions = load_emotion_model("teacher", threads=1)
        print("\n| setting | decode | detect | emotions | audio (CPU ms per sampled frame) | realtime | "
              "frames decoded | face count differs (frames) | IoU min / median |")
        print("|---|---|---|---|---|---|---|---|---|")
        for label, overrides in SETTINGS[:2] if args.quick else SETTINGS:
            config = TrailerConfig(emotion_model="teacher", **overrides)
            detector = make_detector(config.detector, **_detector_options(config, 1))
            costs, found = stage_costs(clip, detector, emotions, config.decoder_threads, args.repeat)
            factor, summary, visual = realtime(TrailerAnalyzer(config, emotion_model=emotions), clip, args.repeat)
            # Frames in parallel must find what one detector finds frame by frame.
            assert visual["n_faces"].tolist() == [len(faces) for faces in found], label
            differing, low, middle = compare_faces(found, reference)
            print(f"| {label} | {costs['decode']:.1f} | {costs['detect']:.1f} | {costs['emotions']:.1f} | "
                  f"{costs['audio']:.1f} | {factor:.1f}x | {summary['frames_decoded']} | {differing} of {len(reference)} | "
                  f"{low:.3f} / {middle:.3f} |", flush=True)
        cold = first_trailer(clip, info.duration_s)
        print(f"\nFirst trailer in a new process (`cineseq trailer --json`, models loaded): {cold:.1f}x realtime")
        from cineseq_assets.media.video import sample_frames
        frames = [frame.image_bgr for frame in sample_frames(clip, 2.0, 1280)]
        print("\n| SCRFD fp32, 640x384 | batch 1 | batch 2 | batch 4 (CPU ms per frame) |\n|---|---|---|---|")
        rows = batching(frames, args.repeat)
        for threads in (1, 2):
            cells = " | ".join(f"{ms:.1f}" for t, _, ms in rows if t == threads)
            print(f"| {threads} thread{'s' if threads > 1 else ''} | {cells} |")
        print(json.dumps({"reference_faces": sum(map(len, reference)), "sampled_frames": len(reference)}))


if __name__ == "__main__":
    main()
