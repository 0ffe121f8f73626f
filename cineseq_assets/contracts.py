"""Column contracts between stages: the names one stage writes and another reads.

The forecaster reads two per-film tables written by its sibling stages: `trailer_emotion` (trailers)
and `frame_predictions` (frames). The column names it reads are declared here, once, so that the
forecaster imports neither stage and the frames stage does not import the trailers stage. A writer
that renames a column breaks tests/test_contracts.py instead of silently zeroing a feature.
Plain Python: no Dagster, no stage imports.
"""

from __future__ import annotations

# ---- trailer_emotion (trailers stage) -> forecaster

HAS_TRAILER = "has_trailer"
"""1 when the film's trailer was analysed, 0 when it has none (its feature columns are then NaN)."""

# The trailer summary used as a static input: level, spread and dynamics of affect, audio energy
# and their alignment. The full embedding (trailers.embedding.EMBEDDING_COLUMNS) stays in
# trailer_emotion for analysis.
TRAILER_FEATURES = ("face_presence_ratio", "valence_mean", "valence_std", "valence_volatility", "arousal_mean",
                    "arousal_std", "arousal_volatility", "shots_per_minute", "audio_rms_mean", "audio_arousal_mean",
                    "audio_onset_mean", "av_alignment_corr")

# ---- frame_predictions (frames stage) -> forecaster

HAS_FRAMES = "has_frames"
"""1 when representative frames of the film's trailer were classified, 0 otherwise (columns NaN)."""

# The frame classifier's default genre bits: the 10 most frequent genres of the bundled poster set
# (IMDb vocabulary), most frequent first. The forecaster reads one probability column per genre.
FRAME_GENRES = ("Drama", "Comedy", "Action", "Romance", "Crime", "Adventure", "Thriller", "Fantasy",
                "Horror", "Sci-Fi")
# Production-budget classes, in order: the expected class is an index into this tuple.
BUDGET_CLASSES = ("under_1M", "1M_10M", "10M_25M", "25M_50M", "50M_plus")
FRAME_EXPECTED_BUDGET = "frame_expected_budget_class"


def frame_genre_column(genre: str) -> str:
    """The frame_predictions column holding the mean probability of `genre` over a film's frames."""
    return f"frame_genre_{genre}"


# What the trailer's frames say (averaged over its shots): the probability of each default genre,
# and the expected budget class (0 = under $1M .. 4 = $50M and over).
FRAME_FEATURES = (*[frame_genre_column(g) for g in FRAME_GENRES], FRAME_EXPECTED_BUDGET)
