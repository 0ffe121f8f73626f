"""The demo's interactive charts (plotly figures): hover for a week's dates and dollars, zoom, and
switch the dollar axes between log and linear scale with the buttons above each chart.

Gradio's ``gr.Plot`` draws them with the plotly.js it bundles, so a page never fetches anything from
a CDN. The Dagster UI keeps its PNGs (``cineseq_assets.*.plots``): metadata cannot run a script.
No Gradio here: these are plain figures, built from what the serving layer returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cineseq_assets.forecast.serving import FilmForecast

OBSERVED = "#222222"
FORECAST = "#1f77b4"
BASELINE = "#ff7f0e"
FILM_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")  # the compare view's films, in the order picked
MAX_COMPARED = len(FILM_COLOURS)
WEEK_DAYS = 6  # a week of run is its start date and the six days after
FONT = {"family": "DejaVu Sans, Arial, sans-serif", "size": 12}  # fonts of the machine: nothing is downloaded


def forecast_figure(forecast: FilmForecast) -> go.Figure:
    """A film's weekly gross up to the origin, what happened after it where known, the forecast
    (p50 and its p10-p90 band) and the decay baseline; beside it, the final domestic total."""
    figure = make_subplots(rows=1, cols=2, column_widths=[0.78, 0.22], horizontal_spacing=0.09,
                           subplot_titles=("Weekly gross", "Final domestic total"))
    for trace in _film_traces(forecast, FORECAST, show_baseline=True):
        figure.add_trace(trace, row=1, col=1)
    for trace in _final_total_traces(forecast.final_total):
        figure.add_trace(trace, row=1, col=2)
    if forecast.final_total is None:
        figure.add_annotation(text="not stored with this model", showarrow=False, row=1, col=2,
                              xref="x2 domain", yref="y2 domain", x=0.5, y=0.5)
    figure.add_vline(x=forecast.origin_week, line={"color": "grey", "width": 1, "dash": "dot"}, row=1, col=1)
    figure.update_xaxes(title_text="week of run", dtick=1 if forecast.last_week <= 20 else None, row=1, col=1)
    figure.update_yaxes(title_text="weekly gross ($)", row=1, col=1)
    figure.update_yaxes(title_text="domestic total ($)", row=1, col=2)
    figure.update_xaxes(showticklabels=False, row=1, col=2)
    return _finish(figure, f"{forecast.title}: forecast from week {forecast.origin_week}", dollar_axes=("yaxis", "yaxis2"))


def compare_figure(forecasts: list[FilmForecast]) -> go.Figure:
    """Up to four films' runs on one chart, aligned by week of run, each with its forecast and band."""
    if not 1 <= len(forecasts) <= MAX_COMPARED:
        raise ValueError(f"compare 1 to {MAX_COMPARED} films, not {len(forecasts)}")
    figure = go.Figure()
    for forecast, colour in zip(forecasts, FILM_COLOURS):
        figure.add_traces(_film_traces(forecast, colour, show_baseline=False, name=str(forecast.title)))
    figure.update_xaxes(title_text="week of run")
    figure.update_yaxes(title_text="weekly gross ($)")
    return _finish(figure, "Films compared by week of run (solid: observed; dashed: forecast p50 and p10-p90)",
                   dollar_axes=("yaxis",))


def attention_figure(attention: np.ndarray, encoder_mask: np.ndarray, origin_week: int, title: str) -> go.Figure:
    """Forecast week x observed week of run: where the attention model looked."""
    observed = np.asarray(encoder_mask) > 0
    weights = np.asarray(attention)[:, observed]
    length = len(observed)
    weeks = (origin_week - (length - 1) + np.arange(length))[observed]
    figure = go.Figure(go.Heatmap(
        z=weights, x=[f"week {week}" for week in weeks], zmin=0, colorscale="Viridis",
        y=[f"week {origin_week + h + 1}" for h in range(weights.shape[0])], colorbar={"title": "weight"},
        hovertemplate="forecast %{y}, observed %{x}: attention %{z:.3f}<extra></extra>"))
    figure.update_xaxes(title_text="observed week of run")
    figure.update_yaxes(title_text="forecast week", autorange="reversed")
    return _finish(figure, title)


def attribution_figure(contributions: pd.DataFrame, title: str, top: int = 15) -> go.Figure:
    """Each feature's signed contribution (summed over its weeks) to log(p50): blue raises it, red lowers it."""
    rows = contributions.reindex(contributions["attribution"].abs().sort_values(ascending=False).index).head(top)
    rows = rows.iloc[::-1]
    figure = go.Figure(go.Bar(
        x=rows["attribution"], y=[f"{feature} ({block})" for feature, block in zip(rows["feature"], rows["block"])],
        orientation="h", marker_color=[FORECAST if value >= 0 else "#d62728" for value in rows["attribution"]],
        hovertemplate="%{y}: %{x:+.4f} to log(p50)<extra></extra>"))
    figure.update_xaxes(title_text="contribution to log(p50 gross) vs the mean-film baseline")
    figure.update_layout(height=max(320, 24 * len(rows) + 140))
    return _finish(figure, title)


def trailer_figure(visual: pd.DataFrame, audio: pd.DataFrame | None, title: str) -> go.Figure:
    """Top: valence and arousal of the faces per sampled frame; bottom: the audio's arousal and energy."""
    faces = (visual["n_faces"] > 0).mean() if len(visual) else 0
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                           subplot_titles=(f"Emotional arc ({faces:.0%} of sampled frames show a face)", "Audio"))
    for name, colour in (("valence", "#4C72B0"), ("arousal", "#C44E52")):
        figure.add_trace(go.Scatter(x=visual["timestamp"], y=visual[name], mode="lines+markers", name=name,
                                    line={"color": colour}, marker={"size": 4},
                                    hovertemplate=f"%{{x:.1f}} s: {name} %{{y:.2f}}<extra></extra>"), row=1, col=1)
    if audio is not None and not audio.empty:
        peak = audio["rms"].max()
        energy = audio["rms"] / peak if peak > 0 else audio["rms"]
        figure.add_trace(go.Scatter(x=audio["timestamp"], y=audio["arousal"], name="audio arousal (0..1)",
                                    line={"color": "#55A868"}, hovertemplate="%{x:.1f} s: arousal %{y:.2f}<extra></extra>"),
                         row=2, col=1)
        figure.add_trace(go.Scatter(x=audio["timestamp"], y=energy, name="RMS energy (relative)",
                                    line={"color": "#8172B2", "dash": "dash"},
                                    hovertemplate="%{x:.1f} s: energy %{y:.2f}<extra></extra>"), row=2, col=1)
    else:
        figure.add_annotation(text="no audio stream", showarrow=False, xref="x2 domain", yref="y2 domain", x=0.5, y=0.5)
    figure.update_yaxes(title_text="faces' affect (-1..1)", range=[-1.05, 1.05], row=1, col=1)
    figure.update_yaxes(title_text="audio (0..1)", row=2, col=1)
    figure.update_xaxes(title_text="time in the trailer (s)", row=2, col=1)
    figure.update_layout(height=520)
    return _finish(figure, title)


def evaluation_figure(table: pd.DataFrame, split_kind: str = "by_film") -> go.Figure:
    """Test WAPE by horizon of every model (mean over seeds, error bars: their std), from the stored
    ``forecast_evaluation`` errors. A model far off the scale (the naive forecast reaches 5) is left
    out and named, so the others stay readable."""
    rows = table[(table["split_kind"] == split_kind) & (table["grouping"] == "horizon")]
    stats = rows.groupby(["model", "group"])["wape"].agg(["mean", "std"]).reset_index()
    off_scale = sorted(stats.loc[stats["mean"] > 1.0, "model"].unique())
    stats = stats[~stats["model"].isin(off_scale)]
    order = stats.groupby("model")["mean"].mean().sort_values().index
    figure = go.Figure()
    for model in order:
        part = stats[stats["model"] == model].sort_values("group")
        figure.add_trace(go.Scatter(
            x=part["group"].astype(int), y=part["mean"], name=model, mode="lines+markers",
            error_y={"type": "data", "array": part["std"].fillna(0), "visible": True},
            hovertemplate=f"{model}<br>horizon %{{x}} weeks: WAPE %{{y:.3f}}<extra></extra>"))
    figure.update_xaxes(title_text="horizon (weeks ahead)", dtick=1)
    figure.update_yaxes(title_text="test WAPE (dollars)")
    note = f"; off the scale: {', '.join(off_scale)}" if off_scale else ""
    return _finish(figure, f"Test WAPE by horizon ({split_kind.replace('_', ' ')} split{note})")


def frames_figure(genres: dict[str, float], budget: dict[str, float], title: str) -> go.Figure:
    """The frame classifier's genre probabilities (left) and budget-class probabilities (right)."""
    figure = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.18,
                           subplot_titles=("genre probability", "budget class probability"))
    names = sorted(genres, key=genres.get)
    figure.add_trace(go.Bar(x=[genres[name] for name in names], y=names, orientation="h", marker_color="#4C72B0",
                            name="genre", hovertemplate="%{y}: %{x:.0%}<extra></extra>"), row=1, col=1)
    figure.add_trace(go.Bar(x=list(budget), y=list(budget.values()), marker_color="#C44E52", name="budget class",
                            hovertemplate="%{x}: %{y:.0%}<extra></extra>"), row=1, col=2)
    figure.update_xaxes(range=[0, 1], tickformat=".0%", row=1, col=1)
    figure.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=2)
    figure.update_layout(showlegend=False, height=max(360, 22 * len(names) + 160))
    return _finish(figure, title)


# ------------------------------------------------------------------------------------ the parts

def _film_traces(forecast: FilmForecast, colour: str, show_baseline: bool, name: str = "") -> list[go.Scatter]:
    """One film's observed weeks, the weeks after the origin where known, and its forecast band and p50."""
    prefix = f"{name}: " if name else ""
    history, table, origin = forecast.history, forecast.table, forecast.origin_week
    seen = history[history["week"] <= origin]
    after = history[history["week"] >= origin]
    anchor = seen.tail(1)  # the band and the p50 start from the last observed week
    weeks = [*anchor["week"], *table["week"]]
    dates = [*_dates(anchor["week_start"]), *_dates(table["week_start"])]
    p10, p50, p90 = ([*anchor["gross"], *table[column]] for column in ("p10", "p50", "p90"))
    group = name or None  # the compare view groups each film's traces in the legend
    traces = [
        _observed_trace(seen, f"{prefix}observed", colour if name else OBSERVED, group, solid=True),
        go.Scatter(x=weeks, y=p90, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip",
                   legendgroup=group),
        go.Scatter(x=weeks, y=p10, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=_translucent(colour),
                   name=f"{prefix}p10-p90", hoverinfo="skip", legendgroup=group),
        go.Scatter(x=weeks, y=p50, mode="lines+markers", name=f"{prefix}forecast p50", legendgroup=group,
                   line={"color": colour, "dash": "dash" if name else "solid"},
                   customdata=np.column_stack([dates, p10, p90]),
                   hovertemplate=(f"{prefix}week %{{x}} (%{{customdata[0]}})<br>p50 $%{{y:,.0f}}"
                                  "<br>p10-p90 $%{customdata[1]:,.0f} - $%{customdata[2]:,.0f}<extra>forecast</extra>")),
    ]
    if len(after) > 1:
        traces.append(_observed_trace(after, f"{prefix}what really happened", "grey" if not name else colour, group,
                                      solid=False))
    if show_baseline and "decay_baseline" in table:
        traces.append(go.Scatter(
            x=weeks, y=[*anchor["gross"], *table["decay_baseline"]], mode="lines", name="decay baseline",
            line={"color": BASELINE, "dash": "dash"}, customdata=dates,
            hovertemplate="week %{x} (%{customdata}): decay baseline $%{y:,.0f}<extra></extra>"))
    return traces


def _observed_trace(weeks: pd.DataFrame, name: str, colour: str, group: str, solid: bool) -> go.Scatter:
    theaters = weeks["theaters"].fillna(0).astype(int) if "theaters" in weeks else pd.Series(0, index=weeks.index)
    return go.Scatter(
        x=weeks["week"], y=weeks["gross"], mode="lines+markers", name=name, legendgroup=group,
        line={"color": colour, "dash": "solid" if solid else "dot"}, marker={"size": 6 if solid else 5},
        customdata=np.column_stack([_dates(weeks["week_start"]), theaters]),
        hovertemplate="week %{x} (%{customdata[0]})<br>gross $%{y:,.0f}<br>%{customdata[1]:,} theaters<extra></extra>")


def _final_total_traces(final: dict | None) -> list[go.Scatter]:
    """The final domestic total's p10-p90 range and p50, the gross to date and the multiplier baseline."""
    if final is None:
        return []
    p10, p50, p90 = (float(final[f"final_{q}"]) for q in ("p10", "p50", "p90"))
    band = f"p10-p90 ${p10:,.0f} - ${p90:,.0f}"
    return [
        go.Scatter(x=["to date"], y=[float(final["gross_to_date"])], mode="markers", name="gross to date",
                   marker={"symbol": "square", "size": 10, "color": OBSERVED},
                   hovertemplate="gross to date $%{y:,.0f}<extra></extra>"),
        go.Scatter(x=["final"], y=[p50], mode="markers", name="final total p50", marker={"size": 12, "color": FORECAST},
                   error_y={"type": "data", "symmetric": False, "array": [p90 - p50], "arrayminus": [p50 - p10]},
                   hovertemplate=f"final total p50 $%{{y:,.0f}}<br>{band}<extra></extra>"),
        go.Scatter(x=["final"], y=[float(final["multiplier_baseline"])], mode="markers", name="multiplier baseline",
                   marker={"symbol": "diamond", "size": 10, "color": BASELINE},
                   hovertemplate="multiplier baseline $%{y:,.0f}<extra></extra>"),
    ]


def _finish(figure: go.Figure, title: str, dollar_axes: tuple[str, ...] = ()) -> go.Figure:
    """Title, fonts, legend below; with ``dollar_axes``, dollar ticks, log scale and log / linear buttons."""
    figure.update_layout(title={"text": title, "x": 0.01}, font=FONT, template="plotly_white", hovermode="closest",
                         legend={"orientation": "h", "y": -0.2, "traceorder": "grouped"},
                         margin={"l": 70, "r": 20, "t": 90, "b": 40})
    if dollar_axes:
        figure.update_layout({axis: {"type": "log", "tickprefix": "$"} for axis in dollar_axes})
        figure.update_layout(updatemenus=[{
            "type": "buttons", "direction": "right", "x": 1.0, "xanchor": "right", "y": 1.13, "yanchor": "bottom",
            "showactive": True, "active": 0,
            "buttons": [{"label": label, "method": "relayout",
                         "args": [{f"{axis}.type": scale for axis in dollar_axes}]}
                        for label, scale in (("Log scale", "log"), ("Linear scale", "linear"))]}])
    return figure


def _dates(starts: pd.Series) -> list[str]:
    """'2016-11-11 to 2016-11-17' for each week start (a week of run is seven days)."""
    starts = pd.to_datetime(pd.Series(starts)).reset_index(drop=True)
    ends = starts + pd.Timedelta(days=WEEK_DAYS)
    return [f"{start:%Y-%m-%d} to {end:%Y-%m-%d}" if pd.notna(start) else "dates unknown"
            for start, end in zip(starts, ends)]


def _translucent(colour: str, alpha: float = 0.2) -> str:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"
