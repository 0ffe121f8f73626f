"""A trailer's emotion embedding: one fixed-length row from the frame and audio timelines.

Inputs are two timelines on the trailer's clock:
- ``visual``: one row per sampled frame with ``timestamp``, ``n_faces``, ``valence``, ``arousal``
  (NaN when no face was found) and ``prob_<label>`` emotion probabilities;
- ``audio``: one row per audio hop with ``timestamp``, ``rms``, ``arousal`` (None without audio).

The output is one row whose columns are ``EMBEDDING_COLUMNS`` (schema ``EMBEDDING_SCHEMA_VERSION``).
A group that cannot be computed (no face at all, no audio) is NaN with its indicator at 0, never
silently imputed, so the forecaster can mask it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EMBEDDING_SCHEMA_VERSION = "1"
ARC_POINTS = 20
MAX_LAG_S = 5.0
MIN_ALIGNED_POINTS = 5
AFFECT = ("valence", "arousal")
# The embedding keeps the seven FER2013 emotions whatever model ran; FER+ labels are mapped onto them
# (its "contempt" joins "disgust", its nearest basic emotion).
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
LABEL_ALIASES = {"anger": "angry", "happiness": "happy", "sadness": "sad", "contempt": "disgust"}


def _arc_columns(prefix: str) -> list[str]:
    return [f"{prefix}_arc_{i:02d}" for i in range(ARC_POINTS)]


def _affect_columns(name: str) -> list[str]:
    stats = [f"{name}_{s}" for s in ("mean", "std", "min", "max", "volatility")]
    shape = [f"{name}_arc_{s}" for s in ("slope", "peak_position", "end_minus_start")]
    return stats + _arc_columns(name) + shape


# Name -> meaning. The order is the vector's order.
EMBEDDING_SCHEMA: dict[str, str] = {
    "duration_s": "trailer length in seconds",
    "frames_sampled": "frames sampled from the video",
    "shots": "shots found by colour-histogram change between sampled frames",
    "shots_per_minute": "cutting pace",
    "has_faces": "1 when at least one sampled frame has a face (else the visual group is NaN)",
    "face_presence_ratio": "share of sampled frames with at least one face",
    "mean_faces_per_frame": "faces per sampled frame",
    **{c: "valence statistics, arc over normalized time (20 points) and its shape" for c in _affect_columns("valence")},
    **{c: "arousal statistics, arc over normalized time (20 points) and its shape" for c in _affect_columns("arousal")},
    **{f"emotion_{e}_mean": f"mean probability of {e} over frames with a face" for e in EMOTIONS},
    "has_audio": "1 when the file has an audio stream (else the audio group is NaN)",
    "audio_silent": "1 when the audio track is digitally silent",
    "audio_rms_mean": "mean RMS energy (linear, full scale 1)",
    "audio_rms_std": "standard deviation of RMS energy",
    "audio_onset_mean": "mean onset strength (librosa)",
    "audio_centroid_mean_hz": "mean spectral centroid in Hz",
    "audio_flux_mean": "mean spectral flux",
    "audio_tempo_bpm": "estimated tempo in beats per minute",
    "audio_arousal_mean": "mean audio arousal (0..1)",
    "audio_arousal_std": "standard deviation of audio arousal",
    **{c: "audio arousal over normalized time (20 points)" for c in _arc_columns("audio_arousal")},
    "av_alignment_corr": "Pearson correlation of visual arousal and audio energy at lag 0",
    "av_alignment_best_lag_s": f"lag (s, within ±{MAX_LAG_S:g}) of the highest correlation; positive = audio leads",
    "av_alignment_best_corr": "the correlation at that lag",
}
EMBEDDING_COLUMNS = list(EMBEDDING_SCHEMA)


def resample_arc(timestamps: np.ndarray, values: np.ndarray, duration_s: float, points: int = ARC_POINTS) -> np.ndarray:
    """Values resampled at ``points`` evenly spaced positions of normalized time [0, 1].

    Linear interpolation between the defined values; NaN everywhere when fewer than two are defined.
    """
    defined = ~np.isnan(values)
    if defined.sum() < 2 or duration_s <= 0:
        return np.full(points, np.nan)
    grid = np.linspace(0.0, 1.0, points)
    return np.interp(grid, timestamps[defined] / duration_s, values[defined])


def arc_shape(arc: np.ndarray) -> dict[str, float]:
    """Slope per unit of normalized time, position (0..1) of the peak, and end minus start."""
    if np.isnan(arc).all():
        return {"slope": np.nan, "peak_position": np.nan, "end_minus_start": np.nan}
    grid = np.linspace(0.0, 1.0, len(arc))
    return {
        "slope": float(np.polyfit(grid, arc, 1)[0]),
        "peak_position": float(grid[int(np.nanargmax(arc))]),
        "end_minus_start": float(arc[-1] - arc[0]),
    }


def _affect_features(name: str, visual: pd.DataFrame, duration_s: float) -> dict[str, float]:
    values = visual[name].to_numpy(dtype=float)
    defined = values[~np.isnan(values)]
    features = {f"{name}_{stat}": np.nan for stat in ("mean", "std", "min", "max", "volatility")}
    if len(defined):
        features |= {f"{name}_mean": defined.mean(), f"{name}_std": defined.std(),
                     f"{name}_min": defined.min(), f"{name}_max": defined.max()}
    # Volatility: the typical size of a change between consecutive face frames.
    features[f"{name}_volatility"] = float(np.std(np.diff(defined))) if len(defined) >= 3 else np.nan
    arc = resample_arc(visual["timestamp"].to_numpy(dtype=float), values, duration_s)
    features |= dict(zip(_arc_columns(name), arc))
    features |= {f"{name}_arc_{key}": value for key, value in arc_shape(arc).items()}
    return features


def _emotion_shares(visual: pd.DataFrame) -> dict[str, float]:
    """Mean probability of each basic emotion over the frames with a face (FER+ labels mapped)."""
    faces = visual[visual["n_faces"] > 0]
    columns = {c: LABEL_ALIASES.get(c[5:], c[5:]) for c in visual if c.startswith("prob_")}
    if faces.empty or not columns:
        return {f"emotion_{e}_mean": np.nan for e in EMOTIONS}
    totals = dict.fromkeys(EMOTIONS, 0.0)
    for column, label in columns.items():
        if label in totals:
            totals[label] += float(faces[column].mean())
    return {f"emotion_{e}_mean": totals[e] for e in EMOTIONS}


def _audio_features(audio: pd.DataFrame | None, silent: bool, duration_s: float, tempo_bpm: float) -> dict[str, float]:
    names = [c for c in EMBEDDING_COLUMNS if c.startswith("audio_")]
    if audio is None or audio.empty:
        return {"has_audio": 0, **{name: np.nan for name in names}}
    arc = resample_arc(audio["timestamp"].to_numpy(dtype=float), audio["arousal"].to_numpy(dtype=float), duration_s)
    return {
        "has_audio": 1,
        "audio_silent": int(silent),
        "audio_rms_mean": float(audio["rms"].mean()),
        "audio_rms_std": float(audio["rms"].std(ddof=0)),
        "audio_onset_mean": float(audio["onset"].mean()) if "onset" in audio else np.nan,
        "audio_centroid_mean_hz": float(audio["centroid"].mean()) if "centroid" in audio else np.nan,
        "audio_flux_mean": float(audio["flux"].mean()) if "flux" in audio else np.nan,
        "audio_tempo_bpm": float(tempo_bpm),
        "audio_arousal_mean": float(audio["arousal"].mean()),
        "audio_arousal_std": float(audio["arousal"].std(ddof=0)),
        **dict(zip(_arc_columns("audio_arousal"), arc)),
    }


def alignment(visual: pd.DataFrame, audio: pd.DataFrame | None, silent: bool, step_s: float = 0.5) -> dict[str, float]:
    """Correlation of visual arousal with audio energy on a common timeline, at lag 0 and the best lag.

    Both are put on a ``step_s`` grid (visual arousal only where a face was seen). Undefined (NaN)
    with a silent or missing track, or with fewer than ``MIN_ALIGNED_POINTS`` shared points.
    """
    empty = {"av_alignment_corr": np.nan, "av_alignment_best_lag_s": np.nan, "av_alignment_best_corr": np.nan}
    if audio is None or audio.empty or silent:
        return empty
    end = max(visual["timestamp"].max(), audio["timestamp"].max())
    grid = np.arange(0.0, end + step_s, step_s)
    face_rows = visual.dropna(subset=["arousal"])
    if len(face_rows) < MIN_ALIGNED_POINTS:
        return empty
    seen = _nearest_on_grid(face_rows["timestamp"].to_numpy(), face_rows["arousal"].to_numpy(), grid, step_s)
    energy = np.interp(grid, audio["timestamp"], audio["rms"])
    correlations = {lag: _lagged_corr(seen, energy, lag) for lag in range(-int(MAX_LAG_S / step_s), int(MAX_LAG_S / step_s) + 1)}
    defined = {lag: c for lag, c in correlations.items() if not np.isnan(c)}
    if not defined:
        return empty
    best = max(defined, key=lambda lag: defined[lag])
    return {"av_alignment_corr": correlations[0], "av_alignment_best_lag_s": best * step_s,
            "av_alignment_best_corr": defined[best]}


def _nearest_on_grid(times: np.ndarray, values: np.ndarray, grid: np.ndarray, step_s: float) -> np.ndarray:
    """Values placed at the nearest grid point (NaN where no sample lies within half a step)."""
    out = np.full(len(grid), np.nan)
    index = np.clip(np.round(times / step_s).astype(int), 0, len(grid) - 1)
    out[index] = values
    return out


def _lagged_corr(visual: np.ndarray, energy: np.ndarray, lag: int) -> float:
    """Correlation of visual(t) with energy(t - lag): a positive lag means the audio leads."""
    if lag > 0:
        visual, energy = visual[lag:], energy[:-lag]
    elif lag < 0:
        visual, energy = visual[:lag], energy[-lag:]
    both = ~np.isnan(visual) & ~np.isnan(energy)
    if both.sum() < MIN_ALIGNED_POINTS or np.std(visual[both]) == 0 or np.std(energy[both]) == 0:
        return np.nan
    return float(np.corrcoef(visual[both], energy[both])[0, 1])


def build_embedding(visual: pd.DataFrame, audio: pd.DataFrame | None, *, duration_s: float,
                    audio_silent: bool = False, tempo_bpm: float = np.nan, shot_starts: list[float] | None = None) -> dict:
    """The embedding row (``EMBEDDING_COLUMNS``) of one trailer; ``shot_starts`` are the cut times."""
    with_face = visual["n_faces"] > 0
    shots = len(shot_starts or []) + 1
    row = {
        "duration_s": float(duration_s),
        "frames_sampled": int(len(visual)),
        "shots": shots,
        "shots_per_minute": 60.0 * shots / duration_s if duration_s > 0 else np.nan,
        "has_faces": int(with_face.any()),
        "face_presence_ratio": float(with_face.mean()) if len(visual) else np.nan,
        "mean_faces_per_frame": float(visual["n_faces"].mean()) if len(visual) else np.nan,
    }
    for name in AFFECT:
        row |= _affect_features(name, visual, duration_s)
    row |= _emotion_shares(visual)
    row |= _audio_features(audio, audio_silent, duration_s, tempo_bpm)
    row |= alignment(visual, audio, audio_silent)
    return {column: row[column] for column in EMBEDDING_COLUMNS}


def embedding_vector(row: dict | pd.Series) -> np.ndarray:
    """The embedding as a float vector in schema order (NaN where a group is missing)."""
    return np.array([float(row[column]) for column in EMBEDDING_COLUMNS], dtype=float)
