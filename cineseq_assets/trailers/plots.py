"""PNG charts of one trailer: the emotional arc and the audio curve on the trailer's clock."""

from __future__ import annotations

import pandas as pd

from ..plotting import new_figure, to_png


def trailer_timeline_plot(visual: pd.DataFrame, audio: pd.DataFrame | None, title: str) -> bytes:
    """Top: valence and arousal of the faces per sampled frame; bottom: audio energy and arousal (PNG)."""
    return to_png(trailer_timeline_figure(visual, audio, title))


def trailer_timeline_figure(visual: pd.DataFrame, audio: pd.DataFrame | None, title: str):
    """The figure behind :func:`trailer_timeline_plot`."""
    fig = new_figure(10, 5.5)
    affect_ax, audio_ax = fig.subplots(2, 1, sharex=True)
    for name, colour in (("valence", "#4C72B0"), ("arousal", "#C44E52")):
        affect_ax.plot(visual["timestamp"], visual[name], marker="o", markersize=3, color=colour, label=name)
    affect_ax.set_ylim(-1.05, 1.05)
    affect_ax.axhline(0, color="grey", linewidth=0.5)
    affect_ax.set_ylabel("faces' affect (-1..1)")
    faces = (visual["n_faces"] > 0).mean() if len(visual) else 0
    affect_ax.set_title(f"{title}: emotional arc ({faces:.0%} of sampled frames show a face)")
    affect_ax.legend(loc="upper right")
    if audio is None or audio.empty:
        audio_ax.text(0.5, 0.5, "no audio stream", ha="center", va="center", transform=audio_ax.transAxes)
    else:
        audio_ax.plot(audio["timestamp"], audio["arousal"], color="#55A868", label="audio arousal (0..1)")
        peak = audio["rms"].max()
        audio_ax.plot(audio["timestamp"], audio["rms"] / peak if peak > 0 else audio["rms"], color="#8172B2",
                      linestyle="--", label="RMS energy (relative)")
        audio_ax.legend(loc="upper right")
    audio_ax.set_ylabel("audio")
    audio_ax.set_xlabel("time in the trailer (s)")
    return fig
