"""Which inputs move a forecast: Integrated Gradients attributions of the p50 forecast.

For each window and each horizon week h (1..4) the p50 forecast of log1p gross is attributed to
the network's *scaled* inputs: the encoder weeks [L, encoder features], the decoder steps
[H, decoder features] and the static vector. The encoder mask and the decay prior are held
fixed (passed as additional forward arguments): they say which weeks exist and where the decay
curve sits, and are not "features" one could turn down.

The baseline
------------
Integrated Gradients explains F(x) - F(baseline), so the baseline is part of the answer. Here it
is all-zero scaled inputs with the film's own observed-week mask and prior. Because continuous
columns are standardized with training-film statistics and flags pass through unscaled, zero
means: every continuous feature at the training films' mean (gross, theaters, budget, week of
run, market...) and every indicator off (no holiday, no genre or rating flag, no trailer, no
buzz, limited release). In words: "an average film with the same observed weeks". An input the
model never reads (the market group of a model trained with market_dropout 1: train.served_windows)
is the same constant in every window; the baseline holds it at that value, so it gets exactly zero
rather than the credit for a difference no film can make. The padded
encoder steps before opening are zero in the input and in the baseline, so their attribution is
exactly zero, and they are left out of the tables (those weeks do not exist).

Completeness: the attributions of one (window, horizon) add up to F(x) - F(baseline) up to the
error of the path integral's quadrature (Gauss-Legendre, ``n_steps`` points). The difference is
the convergence delta, as Captum defines it. A window-horizon whose |delta| exceeds
``atol + rtol * |F(x) - F(baseline)|`` is marked ``converged = False`` and counted in a logged
warning; raise ``n_steps`` if that happens often.

What is explained is the network. The served forecast blends a gradient-boosted model into the
network's p50 (forecast.boosting, with weight w chosen on validation films): the served p50 is
(1 - w) x the network's + w x the booster's, so the attributions here carry (1 - w) of it, and the
forecast_model metadata says w.

Captum's ``IntegratedGradients`` does the work, with its Gauss-Legendre rule; every window is
repeated once per horizon (one target each) so that one call attributes all four horizons.
On 2 cores the live windows of the whole catalog (2,885 x 4) take under a minute. ``AttributionTask``
attributes batches of films on Dask workers (the ``attributions`` asset fans them out), and
``merge_explained`` makes the tables of the whole set from their parts.

Tables (for Parquet)
--------------------
- ``attribution_table``: film_id, origin_week, horizon, block, feature, step, attribution,
  converged. ``step`` is the number of weeks before the origin for the encoder (0 = the origin
  week), the horizon step (1..4) for the decoder, and -1 for static features.
- ``global_importance``: feature, block, mean_abs_attribution, share. A feature's importance is
  the mean over windows and horizons of the sum over its steps of |attribution|; share is its
  fraction of the total, so shares add up to 1.
- ``attention_table`` (attention model): film_id, origin_week, horizon, step, weight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients

from ..plotting import new_figure
from .features import FeatureSchema
from .predict import ServingModelTask
from .train import TrainedModel, served_windows
from .windows import DECODER_MARKET, ENCODER_MARKET, Windows, build_windows

log = logging.getLogger(__name__)

BLOCKS = ("encoder", "decoder", "static")
DEFAULT_STEPS = 64
WINDOWS_PER_CALL = 1024  # windows attributed together (memory stays in the tens of MB)
ROWS_PER_PASS = 4096  # interpolated rows per forward pass: fastest on 2 cores (bigger ones spill the caches)
ATTRIBUTION_COLUMNS = ["film_id", "origin_week", "horizon", "block", "feature", "step", "attribution", "converged"]
IMPORTANCE_COLUMNS = ["feature", "block", "mean_abs_attribution", "share"]
ATTENTION_COLUMNS = ["film_id", "origin_week", "horizon", "step", "weight"]


@dataclass
class Attributions:
    """Integrated Gradients of the p50 forecast of every window and horizon (scaled inputs)."""

    film_id: np.ndarray  # [N]
    origin: np.ndarray  # [N] origin week
    encoder_mask: np.ndarray  # [N, L]
    encoder: np.ndarray  # [N, H, L, encoder features]
    decoder: np.ndarray  # [N, H, H, decoder features]
    static: np.ndarray  # [N, H, static features]
    forecast: np.ndarray  # [N, H] p50 log1p gross at the input
    baseline_forecast: np.ndarray  # [N, H] p50 at the baseline
    delta: np.ndarray  # [N, H] Captum's convergence delta: sum of attributions - (F(x) - F(baseline))
    converged: np.ndarray  # [N, H] bool
    schema: FeatureSchema

    def total(self) -> np.ndarray:
        """Sum of all attributions per window and horizon [N, H]."""
        return (self.encoder.sum(axis=(2, 3)) + self.decoder.sum(axis=(2, 3)) + self.static.sum(axis=2))

    def subset(self, keep: np.ndarray) -> "Attributions":
        """The windows where ``keep`` is True."""
        return Attributions(**{f.name: getattr(self, f.name)[keep] for f in fields(self) if f.name != "schema"},
                            schema=self.schema)

    @staticmethod
    def concat(parts: Sequence["Attributions"]) -> "Attributions":
        return Attributions(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Attributions)
                               if f.name != "schema"}, schema=parts[0].schema)


class _MedianForecast(torch.nn.Module):
    """p50 of log1p gross [B, H] as a function of the attributed inputs first, the fixed ones after."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, encoder, decoder, static, encoder_mask, prior):
        quantiles, _ = self.network(encoder, encoder_mask, decoder, static, prior)
        return quantiles[..., 1]


def live_windows(model, panel: pd.DataFrame, trailers: pd.DataFrame | None = None) -> Windows:
    """Each film's live forecast window (its last observed week as origin), with the model's prior."""
    config = model.train_config
    windows = build_windows(panel, config.encoder_length, trailers=trailers, min_targets=0)
    return windows.subset(windows.is_last_origin()).with_prior(model.pooled, config.prior)


def integrated_gradients(trained: TrainedModel, windows: Windows, n_steps: int = DEFAULT_STEPS,
                         rtol: float = 0.01, atol: float = 0.01,
                         windows_per_call: int = WINDOWS_PER_CALL) -> Attributions:
    """Attributions of every window's p50 forecast, horizon by horizon, against the mean-film baseline."""
    network = _MedianForecast(trained.model.eval())
    inputs = trained.scalers.transform(served_windows(windows, trained.train_config))  # what the network reads
    baselines = _baselines(inputs, reads_market=trained.train_config.market_dropout < 1)
    started = time.perf_counter()
    parts = [_captum_ig(network, *({k: v[s: s + windows_per_call] for k, v in d.items()} for d in (inputs, baselines)),
                        n_steps)
             for s in range(0, len(windows), windows_per_call)]
    merged = {name: np.concatenate([p[name] for p in parts]) for name in (*BLOCKS, "delta")}
    forecast, baseline = _endpoints(network, inputs, baselines)
    result = Attributions(film_id=windows.film_id.astype(str), origin=np.asarray(windows.origin),
                          encoder_mask=inputs["encoder_mask"], forecast=forecast, baseline_forecast=baseline,
                          converged=np.ones(forecast.shape, dtype=bool), schema=trained.schema, **merged)
    _check_convergence(result, rtol, atol, n_steps)
    log.info("attributed %d windows x %d horizons in %.1f s", len(windows), forecast.shape[1],
             time.perf_counter() - started)
    return result


def _check_convergence(result: Attributions, rtol: float, atol: float, n_steps: int) -> None:
    """Mark window-horizons whose convergence delta exceeds the tolerance; warn with their count."""
    difference = result.forecast - result.baseline_forecast
    result.converged = np.abs(result.delta) <= atol + rtol * np.abs(difference)
    failed = int((~result.converged).sum())
    if failed:
        log.warning("Integrated Gradients did not converge for %d of %d window-horizons (n_steps=%d, worst "
                    "|delta| %.3g): see the converged column, or raise n_steps",
                    failed, result.converged.size, n_steps, float(np.abs(result.delta).max()))


def _baselines(inputs: dict[str, np.ndarray], reads_market: bool) -> dict[str, np.ndarray]:
    """The mean film of each window (see the module docstring): every attributed input zero, except the
    market group of a model that never reads it, held at its served value."""
    baselines = {block: np.zeros_like(inputs[block]) for block in BLOCKS}
    if not reads_market:
        baselines["encoder"][:, :, ENCODER_MARKET] = inputs["encoder"][:, :, ENCODER_MARKET]
        baselines["decoder"][:, :, DECODER_MARKET] = inputs["decoder"][:, :, DECODER_MARKET]
    return baselines


def _endpoints(network: _MedianForecast, inputs: dict[str, np.ndarray],
               baselines: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """p50 [N, H] at the inputs and at the baseline."""
    fixed = [torch.from_numpy(inputs["encoder_mask"]), torch.from_numpy(inputs["prior"])]
    with torch.no_grad():
        forecast = network(*(torch.from_numpy(inputs[block]) for block in BLOCKS), *fixed)
        baseline = network(*(torch.from_numpy(baselines[block]) for block in BLOCKS), *fixed)
    return forecast.numpy(), baseline.numpy()


def _captum_ig(network: _MedianForecast, inputs: dict[str, np.ndarray], baselines: dict[str, np.ndarray],
               n_steps: int) -> dict[str, np.ndarray]:
    """Captum's IntegratedGradients on one chunk of windows, each repeated once per horizon target.

    Returns the attributions [n, H, ...] of each block and Captum's convergence delta [n, H].
    """
    n, horizon = inputs["prior"].shape
    rows = np.repeat(np.arange(n), horizon)
    target = torch.from_numpy(np.tile(np.arange(horizon), n))
    tensor = {key: torch.from_numpy(value[rows]) for key, value in inputs.items()}
    attributed = tuple(tensor[block] for block in BLOCKS)
    per_pass = max(len(rows), (ROWS_PER_PASS // len(rows)) * len(rows))
    attributions, delta = IntegratedGradients(network).attribute(
        inputs=attributed, baselines=tuple(torch.from_numpy(baselines[block][rows]) for block in BLOCKS), target=target,
        additional_forward_args=(tensor["encoder_mask"], tensor["prior"]), n_steps=n_steps,
        method="gausslegendre", internal_batch_size=per_pass, return_convergence_delta=True)
    out = {block: a.detach().numpy().reshape(n, horizon, *a.shape[1:]) for block, a in zip(BLOCKS, attributions)}
    out["delta"] = delta.detach().numpy().reshape(n, horizon)
    return out


def attribution_table(attributions: Attributions) -> pd.DataFrame:
    """The long per-film table (see the module docstring); padded encoder weeks are left out."""
    frames = [_block_frame(attributions, block) for block in BLOCKS]
    return pd.concat(frames, ignore_index=True)[ATTRIBUTION_COLUMNS]


def _block_frame(attributions: Attributions, block: str) -> pd.DataFrame:
    values = getattr(attributions, block)  # [N, H, (steps,) features]
    n, horizon = values.shape[:2]
    if block == "static":
        values = values[:, :, None, :]
    steps, features = values.shape[2], values.shape[3]
    names = np.asarray(getattr(attributions.schema, block), dtype=object)
    window, h, step, feature = np.meshgrid(np.arange(n), np.arange(horizon), np.arange(steps), np.arange(features),
                                           indexing="ij")
    keep = np.ones(values.shape, dtype=bool)
    if block == "encoder":
        keep = np.broadcast_to(attributions.encoder_mask[:, None, :, None] > 0, values.shape)
    step_label = {"encoder": steps - 1 - step, "decoder": step + 1, "static": np.full_like(step, -1)}[block]
    return pd.DataFrame({
        "film_id": attributions.film_id[window[keep]],
        "origin_week": attributions.origin[window[keep]],
        "horizon": h[keep] + 1,
        "block": block,
        "feature": names[feature[keep]],
        "step": step_label[keep],
        "attribution": values[keep].astype(np.float32),
        "converged": attributions.converged[window[keep], h[keep]],
    })


def global_importance(attributions: Attributions) -> pd.DataFrame:
    """Mean |attribution| per feature (summed over its steps), with its share of the total, largest first."""
    per_feature = {
        "encoder": np.abs(attributions.encoder).sum(axis=2),  # [N, H, F]
        "decoder": np.abs(attributions.decoder).sum(axis=2),
        "static": np.abs(attributions.static),
    }
    frames = [pd.DataFrame({"feature": getattr(attributions.schema, block), "block": block,
                            "mean_abs_attribution": values.reshape(-1, values.shape[-1]).mean(axis=0, dtype=float)})
              for block, values in per_feature.items()]
    table = pd.concat(frames, ignore_index=True)
    total = table["mean_abs_attribution"].sum()
    table["share"] = table["mean_abs_attribution"] / total if total > 0 else 0.0
    return table.sort_values("mean_abs_attribution", ascending=False, ignore_index=True)[IMPORTANCE_COLUMNS]


def attention_table(windows: Windows, attention: np.ndarray) -> pd.DataFrame:
    """Attention weights [N, H, L] as rows; step = weeks before the origin, padded weeks left out."""
    n, horizon, length = attention.shape
    window, h, position = np.meshgrid(np.arange(n), np.arange(horizon), np.arange(length), indexing="ij")
    keep = np.broadcast_to(windows.encoder_mask[:, None, :] > 0, attention.shape)
    return pd.DataFrame({
        "film_id": windows.film_id.astype(str)[window[keep]],
        "origin_week": np.asarray(windows.origin)[window[keep]],
        "horizon": h[keep] + 1,
        "step": length - 1 - position[keep],
        "weight": attention[keep].astype(np.float32),
    })[ATTENTION_COLUMNS]


def explain(trained: TrainedModel, panel: pd.DataFrame, trailers: pd.DataFrame | None = None,
            windows: Windows | None = None, n_steps: int = DEFAULT_STEPS) -> dict[str, pd.DataFrame]:
    """Attribution, global importance and (attention model) attention tables for ``windows``.

    ``windows`` defaults to each film's live forecast window. The attention table is empty for
    the plain Seq2Seq, which has no attention.
    """
    if windows is None:
        windows = live_windows(trained, panel, trailers)
    return merge_explained([_attribute(trained, windows, n_steps)])


def _attribute(trained: TrainedModel, windows: Windows, n_steps: int) -> tuple[Attributions, pd.DataFrame]:
    """(attributions, attention rows) of ``windows``."""
    attributions = integrated_gradients(trained, windows, n_steps=n_steps)
    _, attention = trained.predict(windows)
    return attributions, (attention_table(windows, attention) if attention is not None
                          else pd.DataFrame(columns=ATTENTION_COLUMNS))


def merge_explained(parts: Sequence[tuple[Attributions, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The attribution, global importance and attention tables of every part together."""
    attributions = Attributions.concat([part[0] for part in parts])
    return {
        "attributions": attribution_table(attributions),
        "importance": global_importance(attributions),
        "attention": pd.concat([part[1] for part in parts], ignore_index=True),
    }


class AttributionTask(ServingModelTask):
    """Integrated Gradients of each film's live window, a batch of films per task: film -> (attributions, attention)."""

    n_steps: int = DEFAULT_STEPS

    def compute_many(self, films: Sequence[str]) -> dict[str, object]:
        rows, trailers = self.rows_of(films)
        if not len(rows):
            return self.by_film(films, {})
        trained = self.model()[0]
        attributions, attention = _attribute(trained, live_windows(trained, rows, trailers), self.n_steps)
        by_attention = dict(tuple(attention.groupby("film_id", sort=False))) if len(attention) else {}
        return self.by_film(films, {
            film: (attributions.subset(attributions.film_id == film),
                   by_attention.get(film, attention.iloc[:0]).reset_index(drop=True))
            for film in np.unique(attributions.film_id)})


BLOCK_COLORS = {"encoder": "#1f77b4", "decoder": "#ff7f0e", "static": "#2ca02c"}


def importance_figure(importance: pd.DataFrame, top: int = 20, title: str = "What moves the p50 forecast"):
    """Horizontal bars of the ``top`` features' share of attribution, coloured by input block."""
    rows = importance.head(top).iloc[::-1]  # largest at the top
    fig = new_figure(8.0, max(2.5, 0.3 * len(rows) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    labels = [f"{feature} ({block})" for feature, block in zip(rows["feature"], rows["block"])]
    ax.barh(labels, rows["share"], color=[BLOCK_COLORS.get(b, "grey") for b in rows["block"]])
    ax.set_xlabel("share of mean |attribution| (Integrated Gradients, mean-film baseline)")
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=8)
    return fig
