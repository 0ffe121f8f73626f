"""Trailer audio: decode the soundtrack with PyAV, describe it over time with librosa.

PyAV decodes and resamples (librosa alone would need an ffmpeg binary for MP4/MOV audio).
The features live on a common timeline: one row every `hop_s` seconds, on the same clock as
the video frames (`time_s` = 0 is the start of the video), each row summarizing the window
[time_s - hop_s/2, time_s + hop_s/2) so a frame sampled at time t lines up with the row at t.

Curves (columns of AudioFeatures.curves):
  rms, rms_db          RMS amplitude of the mono mix, linear and in dBFS (a full-scale sine is
                       -3 dBFS; floored at -100 dBFS so digital silence stays finite)
  onset_strength       librosa.onset.onset_strength: the mean rise in log-mel energy between
                       short frames (a spectral flux on a perceptual scale; what beat tracking uses)
  spectral_flux        the L2 norm of the frame-to-frame change of the linear STFT magnitude,
                       scaled so that a full-scale sinusoid has magnitude 1 (loudness-dependent)
  spectral_centroid_hz energy-weighted spectral centroid (brightness)
  tempo_bpm            librosa's local tempo estimate (tempogram, 8.9 s windows); 0 in windows
                       quieter than SILENT_PEAK_DBFS
  arousal              in [0, 1], see `arousal_curve`

Silence: a track whose peak is below SILENT_PEAK_DBFS (-60 dBFS) is `silent`. It is a valid
result: rms/rms_db keep their measured (finite) values and every other curve is 0, so nothing
downstream divides by zero or meets a NaN. Peak, not RMS, decides, because a quiet mix is not
a silent one (single_face.mp4's MP3 peaks at -36 dBFS with an RMS of -57 dBFS).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import av
import librosa
import numpy as np
import pandas as pd

from cineseq_assets.media.video import VideoInputError, open_media

SILENT_PEAK_DBFS = -60.0
"""A track whose loudest sample is below this is digitally silent (WolfgangLanger's is all zeros)."""

N_FFT = 2048  # 93 ms at 22.05 kHz: resolves bass notes, still short enough for drum hits
FINE_HOP = 512  # 23 ms steps for the short-time features, then averaged onto the hop_s timeline
DB_FLOOR = -100.0

# Arousal: where loudness and brightness reach 0 and 1 (see arousal_curve).
LOUDNESS_RANGE_DBFS = (-60.0, -10.0)
BRIGHTNESS_RANGE_HZ = (500.0, 4000.0)

CURVE_COLUMNS = ["time_s", "rms", "rms_db", "onset_strength", "spectral_flux",
                 "spectral_centroid_hz", "tempo_bpm", "arousal"]


@dataclass
class AudioTrack:
    """A decoded soundtrack: mono float32 samples in [-1, 1] from time 0 of the video."""

    path: Path
    samples: np.ndarray
    sample_rate: int
    codec: str
    source_channels: int
    source_sample_rate: int
    start_offset_s: float  # when the audio stream starts after the video (padded with silence)
    truncated: bool = False  # decoding stopped on an error after some audio was read
    problem: str | None = None

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass
class AudioFeatures:
    """Audio descriptors on a common timeline, their summary, and whether the track is silent."""

    curves: pd.DataFrame  # CURVE_COLUMNS, one row every hop_s
    summary: dict[str, float] = field(default_factory=dict)
    tempo_bpm: float = 0.0  # librosa.beat.beat_track's global estimate; 0 when silent or beatless
    silent: bool = False
    peak_dbfs: float = DB_FLOOR
    hop_s: float = 0.5
    duration_s: float = 0.0

    @property
    def timestamps(self) -> np.ndarray:
        return self.curves["time_s"].to_numpy()


# --------------------------------------------------------------------------------------------
# Decoding


def load_audio(path: str | os.PathLike, sr: int = 22050) -> AudioTrack | None:
    """Decode the first audio stream to mono float32 at `sr` Hz; None when there is none.

    FFmpeg's resampler downmixes (5.1 included: centre and surrounds at -3 dB, LFE dropped).
    Audio that starts after the video is preceded by silence so sample 0 is the video's time 0.
    A stream that fails before yielding any audio raises VideoInputError; one that fails later,
    or ends more than 0.5 s before its declared duration (a truncated file), keeps what was
    decoded and is marked `truncated` (with `problem`), like the frame sampler.
    """
    path = Path(path)
    with open_media(path) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        origin = _timeline_origin_s(container, stream)
        chunks, first_time, error = _decode_mono(container, stream, sr)
        if not chunks:
            raise VideoInputError(path, f"its {stream.codec_context.name} audio stream could not be decoded "
                                    f"({error or 'it holds no audio frame'})",
                                    "Re-export the trailer, or fetch it again if the download was interrupted.")
        offset = (first_time if first_time is not None else origin) - origin
        samples = _align_to_origin(np.concatenate(chunks), offset, sr)
        problem = _early_end(error, len(samples) / sr, _declared_end_s(stream, origin))
        return AudioTrack(path=path, samples=samples, sample_rate=sr, codec=stream.codec_context.name,
                          source_channels=stream.codec_context.channels,
                          source_sample_rate=stream.codec_context.sample_rate,
                          start_offset_s=max(offset, 0.0), truncated=problem is not None, problem=problem)


def _timeline_origin_s(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float:
    """Time 0 of the video (the sampler's clock), or the audio's own start in an audio-only file."""
    reference = container.streams.video[0] if container.streams.video else stream
    return float((reference.start_time or 0) * reference.time_base)


def _decode_mono(container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
                 sr: int) -> tuple[list[np.ndarray], float | None, str | None]:
    """(mono chunks, time of the first frame, FFmpeg's message if an error stopped decoding)."""
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=sr)
    chunks, first_time = [], None
    try:
        for frame in container.decode(stream):
            if first_time is None and frame.time is not None:
                first_time = frame.time
            chunks.extend(out.to_ndarray()[0] for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray()[0] for out in resampler.resample(None))  # resampler's tail
    except av.FFmpegError as error:
        return chunks, first_time, error.strerror
    return chunks, first_time, None


def _declared_end_s(stream: av.audio.stream.AudioStream, origin_s: float) -> float | None:
    if not stream.duration:
        return None
    return float(((stream.start_time or 0) + stream.duration) * stream.time_base) - origin_s


def _early_end(error: str | None, decoded_s: float, declared_s: float | None) -> str | None:
    """Why the decoded audio is incomplete (an error, or a file cut short without one), or None."""
    if error:
        return f"audio decoding stopped at {decoded_s:.2f} s ({error})"
    if declared_s is not None and decoded_s < declared_s - 0.5:
        return f"the audio ends at {decoded_s:.2f} s but the stream declares {declared_s:.2f} s"
    return None


def _align_to_origin(samples: np.ndarray, offset_s: float, sr: int) -> np.ndarray:
    """Pad a late start with silence, drop samples before time 0 (encoder priming)."""
    shift = round(offset_s * sr)
    if shift > 0:
        samples = np.concatenate([np.zeros(shift, dtype=np.float32), samples])
    elif shift < 0:
        samples = samples[-shift:]
    return np.ascontiguousarray(samples, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Features


def audio_features(track: AudioTrack, hop_s: float = 0.5) -> AudioFeatures:
    """RMS, onset strength, spectral flux and centroid, local tempo and arousal every hop_s seconds.

    Short-time features are computed every FINE_HOP samples and averaged into hop_s windows
    (RMS as the root of the mean energy, the centroid weighted by energy). Summary statistics
    (mean, std, min, max, 90th percentile of each curve) go to `summary` with the global tempo,
    beat count, peak level, duration and the loud fraction (share of windows above -30 dBFS).
    """
    if not hop_s > 0:
        raise ValueError(f"hop_s must be a positive number of seconds, got {hop_s!r}")
    y, sr = track.samples, track.sample_rate
    peak_dbfs = float(librosa.amplitude_to_db(np.max(np.abs(y), initial=0.0), ref=1.0, amin=1e-5, top_db=None))
    silent = peak_dbfs < SILENT_PEAK_DBFS
    windows = _Windows(sr=sr, hop_s=hop_s, count=max(1, math.ceil(track.duration_s / hop_s)))
    energy = librosa.feature.rms(y=_at_least(y, N_FFT), frame_length=N_FFT, hop_length=FINE_HOP)[0] ** 2
    rms = np.sqrt(windows.mean(energy))
    curves = pd.DataFrame({"time_s": windows.times, "rms": rms,
                           "rms_db": librosa.amplitude_to_db(rms, ref=1.0, amin=1e-5, top_db=None)})
    tempo_bpm, beat_count = 0.0, 0
    if silent:
        for column in CURVE_COLUMNS[3:]:
            curves[column] = 0.0
    else:
        spectral, tempo_bpm, beat_count = _spectral_curves(y, sr, energy, windows)
        for column, values in spectral.items():
            curves[column] = values
        # The tempogram spreads a rhythm over ~9 s windows; in near-silence it is meaningless.
        curves.loc[curves["rms_db"] < SILENT_PEAK_DBFS, "tempo_bpm"] = 0.0
        curves["arousal"] = arousal_curve(curves)
    curves = curves[CURVE_COLUMNS].astype(float)
    summary = _summarize(curves, tempo_bpm=tempo_bpm, beat_count=beat_count, peak_dbfs=peak_dbfs,
                         duration_s=track.duration_s, silent=silent)
    return AudioFeatures(curves=curves, summary=summary, tempo_bpm=tempo_bpm, silent=silent,
                         peak_dbfs=peak_dbfs, hop_s=hop_s, duration_s=track.duration_s)


def arousal_curve(curves: pd.DataFrame) -> np.ndarray:
    """Audio arousal in [0, 1]: loudness x (0.5 + 0.3 eventfulness + 0.2 brightness).

    loudness     rms_db mapped linearly from LOUDNESS_RANGE_DBFS (-60 -> 0, -10 -> 1), clipped;
                 absolute, so a loud trailer scores higher than a quiet one
    eventfulness onset_strength over the track's own 95th percentile, clipped to 1 (onset
                 strength has no unit comparable across mixes, so it is relative to the trailer)
    brightness   log2 of the centroid mapped from BRIGHTNESS_RANGE_HZ (500 Hz -> 0, 4 kHz -> 1)
    Loudness multiplies the rest so that quiet passages stay low however noisy or bright they
    are, and a loud, eventful, bright moment reaches 1.
    """
    low_db, high_db = LOUDNESS_RANGE_DBFS
    loudness = np.clip((curves["rms_db"].to_numpy() - low_db) / (high_db - low_db), 0, 1)
    onset = curves["onset_strength"].to_numpy()
    reference = np.percentile(onset, 95) if len(onset) else 0.0
    eventfulness = np.clip(onset / reference, 0, 1) if reference > 0 else np.zeros_like(onset)
    low_hz, high_hz = BRIGHTNESS_RANGE_HZ
    centroid = np.maximum(curves["spectral_centroid_hz"].to_numpy(), 1.0)
    brightness = np.clip(np.log2(centroid / low_hz) / np.log2(high_hz / low_hz), 0, 1)
    return loudness * (0.5 + 0.3 * eventfulness + 0.2 * brightness)


@dataclass(frozen=True)
class _Windows:
    """Averages short-time frames (every FINE_HOP samples, centred) into hop_s windows centred on k*hop_s."""

    sr: int
    hop_s: float
    count: int

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.count) * self.hop_s

    def mean(self, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per-window (weighted) mean; 0 for a window with no frame or no weight."""
        weights = np.ones_like(values) if weights is None else weights[: len(values)]
        frame_times = librosa.frames_to_time(np.arange(len(values)), sr=self.sr, hop_length=FINE_HOP)
        index = np.minimum(np.floor(frame_times / self.hop_s + 0.5).astype(int), self.count - 1)
        total = np.bincount(index, weights=values * weights, minlength=self.count)
        norm = np.bincount(index, weights=weights, minlength=self.count)
        return np.divide(total, norm, out=np.zeros(self.count), where=norm > 0)


def _spectral_curves(y: np.ndarray, sr: int, energy: np.ndarray, windows: _Windows) -> tuple[dict, float, int]:
    """Onset strength, flux, centroid and local tempo on the hop_s windows, with global tempo and beats."""
    magnitude = np.abs(librosa.stft(_at_least(y, N_FFT), n_fft=N_FFT, hop_length=FINE_HOP))
    log_mel = librosa.power_to_db(librosa.feature.melspectrogram(S=magnitude**2, sr=sr))
    onset = librosa.onset.onset_strength(S=log_mel, sr=sr)
    # A Hann window of N_FFT samples turns a sinusoid of amplitude 1 into a peak of N_FFT / 4.
    change = np.diff(magnitude / (N_FFT / 4), axis=1, prepend=magnitude[:, :1] / (N_FFT / 4))
    flux = np.linalg.norm(change, axis=0)
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=sr)[0]
    local_tempo = librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=FINE_HOP, aggregate=None)
    tempo, beats = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=FINE_HOP)
    curves = {"onset_strength": windows.mean(onset), "spectral_flux": windows.mean(flux),
              "spectral_centroid_hz": windows.mean(centroid, weights=energy),
              "tempo_bpm": windows.mean(local_tempo)}
    curves = {name: np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0) for name, values in curves.items()}
    return curves, float(np.nan_to_num(np.atleast_1d(tempo)[0])), int(len(beats))


def _summarize(curves: pd.DataFrame, **scalars) -> dict[str, float]:
    summary = {name: float(value) for name, value in scalars.items()}
    for column in CURVE_COLUMNS[1:]:
        values = curves[column].to_numpy()
        summary.update({f"{column}_mean": float(values.mean()), f"{column}_std": float(values.std()),
                        f"{column}_min": float(values.min()), f"{column}_max": float(values.max()),
                        f"{column}_p90": float(np.percentile(values, 90))})
    summary["loud_fraction"] = float((curves["rms_db"] > -30.0).mean())
    return summary


def _at_least(samples: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad a clip shorter than one analysis frame (librosa warns and misbehaves otherwise)."""
    return samples if len(samples) >= length else np.pad(samples, (0, length - len(samples)))
