"""Training a Seq2Seq forecaster: data preparation, the loop with early stopping, prediction.

Everything fitted (the pooled retention, the scalers) sees training films only; early stopping
watches the validation films' WAPE in dollars; the test films are not touched here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd
import torch

from ..fitting import FitSettings, fit_loop, seeded
from .boosting import Booster, blend, choose_weight
from .calibration import RecentCalibration, forecast_dates, recent_widening
from .decay_prior import PooledRetention, PriorConfig
from .features import MARKET_DROPOUT, FeatureSchema
from .metrics import conformal_margin
from .models import ModelConfig, build_model
from .models.common import pinball_loss
from .scaling import Scalers
from .splits import SplitConfig, assign_splits
from .windows import Windows, build_windows

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    architecture: str = "seq2seq_attention"  # or "seq2seq"
    encoder_length: int = 8
    hidden: int = 64
    static_hidden: int = 32
    attention_hidden: int = 32
    dropout: float = 0.1
    decay_residual: bool = True  # False: the direct-modelling ablation
    prior: PriorConfig = field(default_factory=PriorConfig)
    # weight windows by (last week's gross)^this: 0 = all equal, 1 = in dollars (0.5: best on validation)
    gross_weight: float = 0.5
    # share of training windows whose market group is hidden, drawn anew each epoch, so that a
    # forecast without market context (after the chart's end, a partial chart) is a state seen in training;
    # 1 = a model without market features (it never reads them, in training or prediction); see MARKET_DROPOUT
    market_dropout: float = MARKET_DROPOUT
    # blend a gradient-boosted model (forecast.boosting) into the network's forecast, with a weight
    # chosen on validation films (0 when it does not help there)
    boosting: bool = True
    epochs: int = 60
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    patience: int = 6  # epochs without a better validation WAPE before stopping
    max_seconds: float = 100.0  # wall-clock budget per model
    max_train_origin: int = 20  # training windows from origins 1..this
    eval_origins: tuple[int, int] = (2, 8)
    seed: int = 0

    def __post_init__(self):
        if not 0.0 <= self.market_dropout <= 1.0:
            raise ValueError(f"market_dropout is {self.market_dropout}: it is the share of training windows whose market "
                             "context is hidden, between 0 and 1 (1: a forecaster that never reads the market)")


@dataclass
class PreparedData:
    """Windows of each split with the decay prior of the training films, and the fitted scalers."""

    split: pd.Series  # film_id -> split
    pooled: PooledRetention
    scalers: Scalers
    train: Windows  # every training origin
    validation: Windows  # evaluation origins only
    test: Windows
    schema: FeatureSchema = field(default_factory=FeatureSchema)


def prepare(panel: pd.DataFrame, config: TrainConfig, split: SplitConfig | None = None,
            trailers: pd.DataFrame | None = None, films: pd.Series | None = None) -> PreparedData:
    """Windows of each split; ``films`` (film_id -> split) overrides the split computed from ``split``."""
    split = split or SplitConfig()
    films = assign_splits(panel, split) if films is None else films
    counts = films.value_counts()
    needed = ("train", "validation") if split.train_on_test else ("train", "validation", "test")
    if any(counts.get(name, 0) == 0 for name in needed):
        raise ValueError(f"the {split.kind} split of {len(films)} films left a split empty ({counts.to_dict()}): "
                         f"training needs films in {', '.join(needed)}; use more films (e.g. `cineseq run --films all`)")
    rows = panel["film_id"].map(films)
    pooled = PooledRetention.fit(panel[rows == "train"])
    windows = {}
    for name in ("train", "validation", "test"):
        part = panel[rows == name]
        if not len(part):  # no test films (SplitConfig.train_on_test): an empty set of the same shape
            windows[name] = windows["validation"].subset(slice(0, 0))
            continue
        origins = (1, config.max_train_origin) if name == "train" else config.eval_origins
        built = build_windows(part, config.encoder_length, origins, trailers)
        windows[name] = built.with_prior(pooled, config.prior)
    scalers = Scalers.fit(windows["train"], FeatureSchema())
    return PreparedData(films, pooled, scalers, windows["train"], windows["validation"], windows["test"])


def model_config(config: TrainConfig, data: PreparedData) -> ModelConfig:
    """The architecture fields by name from ``config`` (declared once, in TrainConfig); the rest from ``data``."""
    schema = data.schema
    train = data.train
    observed = train.target[train.target_mask > 0]
    architecture = {f.name: getattr(config, f.name) for f in fields(ModelConfig) if f.name in TrainConfig.__dataclass_fields__}
    return ModelConfig(
        encoder_features=len(schema.encoder), decoder_features=len(schema.decoder),
        static_features=len(schema.static), **architecture,
        output_scale=data.scalers.deviation_std,
        target_mean=float(observed.mean()), target_std=float(observed.std()),
    )


def _tensors(data: PreparedData, windows: Windows) -> dict[str, torch.Tensor]:
    inputs = {k: torch.from_numpy(v) for k, v in data.scalers.transform(windows).items()}
    inputs["target"] = torch.from_numpy(windows.target.astype(np.float32))
    inputs["target_mask"] = torch.from_numpy(windows.target_mask.astype(np.float32))
    return inputs


def window_weights(windows: Windows, power: float) -> torch.Tensor:
    """Loss weights proportional to (last observed gross)^power, mean 1.

    Errors are judged in dollars (WAPE), where a blockbuster's week counts a hundred times more
    than a small film's; a log-scale loss weighs them equally. The power trades the two.
    """
    log_level = windows.last_log_gross
    weight = np.exp(power * (log_level - log_level.max()))
    return torch.from_numpy((weight / weight.mean()).astype(np.float32))


INPUT_NAMES = ("encoder", "encoder_mask", "decoder", "static", "prior")


@dataclass
class TrainedModel:
    architecture: str
    model: torch.nn.Module
    model_config: ModelConfig
    train_config: TrainConfig
    scalers: Scalers
    pooled: PooledRetention
    schema: FeatureSchema
    history: list[dict]
    seconds: float
    conformal: list[float] = field(default_factory=lambda: [0.0] * 4)  # per-horizon widening of p10/p90 (log units)
    # the band's further widening by date, from the latest known outcomes of validation films (forecast.calibration)
    recent: RecentCalibration | None = None
    booster: Booster | None = None  # the gradient-boosted model blended in (forecast.boosting), if any
    blend_weight: float = 0.0  # its share of the p50 (log space), chosen on validation films
    blend_scores: dict = field(default_factory=dict)  # validation WAPE of every candidate weight

    def predict(self, windows: Windows, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray | None]:
        """Quantiles of log1p gross [N, H, 3] and attention weights [N, H, L] (None without attention).

        ``windows`` must carry the decay prior of this model's pooled retention.
        """
        self.model.eval()
        windows = served_windows(windows, self.train_config)
        inputs = {k: torch.from_numpy(v) for k, v in self.scalers.transform(windows).items()}
        quantiles, attention = [], []
        with torch.no_grad():
            for start in range(0, len(windows), batch_size):
                q, a = self.model(*(inputs[name][start: start + batch_size] for name in INPUT_NAMES))
                quantiles.append(q.numpy())
                if a is not None:
                    attention.append(a.numpy())
        return finish(np.concatenate(quantiles), windows, self), (np.concatenate(attention) if attention else None)

    def metadata(self) -> dict:
        return {
            "architecture": self.architecture,
            "model_config": asdict(self.model_config),
            "train_config": asdict(self.train_config),
            "scalers": self.scalers.to_dict(),
            "pooled_retention": self.pooled.to_dict(),
            "feature_schema": self.schema.to_dict(),
            "conformal": list(self.conformal),
            "recent_calibration": None if self.recent is None else self.recent.to_dict(),
            "blend_weight": self.blend_weight,
            "blend_scores": self.blend_scores,
            "history": self.history,
            "seconds": self.seconds,
        }


def served_windows(windows: Windows, config: TrainConfig) -> Windows:
    """The windows a model reads: a model trained without the market group (market_dropout 1) never reads it."""
    return windows.without_market() if config.market_dropout >= 1 else windows


def finish(log_quantiles: np.ndarray, windows: Windows, model) -> np.ndarray:
    """The served quantiles from the network's raw ones, in place: blended with the model's booster
    (forecast.boosting), conformally widened, then widened by the recent outcomes at each window's date
    (forecast.calibration). ``model`` is a TrainedModel or an OnnxForecaster."""
    if model.booster is not None and model.blend_weight > 0:
        blend(log_quantiles, model.booster.predict(windows), model.blend_weight)
    widen(log_quantiles, model.conformal)
    if model.recent is not None:
        widen(log_quantiles, model.recent.at(forecast_dates(windows.origin_week_start)))
    return log_quantiles


def widen(log_quantiles: np.ndarray, conformal) -> np.ndarray:
    """Apply the conformal adjustment per horizon ([H], or [N, H] per window) to p10/p90, in place. A
    negative adjustment (the network's band was too wide) narrows the band, but never past the median."""
    amount = np.asarray(conformal, dtype=log_quantiles.dtype)
    median = log_quantiles[..., 1]
    log_quantiles[..., 0] = np.minimum(log_quantiles[..., 0] - amount, median)
    log_quantiles[..., 2] = np.maximum(log_quantiles[..., 2] + amount, median)
    return log_quantiles


def dollar_wape(log_quantiles: np.ndarray, windows: Windows) -> float:
    mask = windows.target_mask > 0
    actual = np.expm1(windows.target[mask])
    predicted = np.expm1(log_quantiles[..., 1][mask])
    return float(np.abs(predicted - actual).sum() / actual.sum())


def train_model(data: PreparedData, config: TrainConfig, progress: Callable[[str], None] | None = None) -> TrainedModel:
    """Train one model; keeps the weights of the epoch with the best validation WAPE.

    ``progress`` gets one line per epoch. Threads are the caller's to set (``torch.set_num_threads``).
    """
    seeded(config.seed)
    mconfig = model_config(config, data)
    model = build_model(config.architecture, mconfig)
    train = _tensors(data, served_windows(data.train, config))  # a model without the market never reads it
    hidden_market = None  # only a model that reads the market sees it hidden at random
    if 0 < config.market_dropout < 1:
        hidden_market = {k: torch.from_numpy(v) for k, v in data.scalers.transform(data.train.without_market()).items()}
    weights = window_weights(data.train, config.gross_weight)
    generator = torch.Generator().manual_seed(config.seed)
    trained = TrainedModel(config.architecture, model, mconfig, config, data.scalers, data.pooled, data.schema, [], 0.0)

    def batch_losses():
        order = torch.randperm(len(data.train), generator=generator)
        for start in range(0, len(order), config.batch_size):
            batch = order[start: start + config.batch_size]
            inputs = _mask_market(train, hidden_market, batch, config.market_dropout, generator)
            quantiles, _ = model(*(inputs[name] for name in INPUT_NAMES))
            yield pinball_loss(quantiles, train["target"][batch], train["target_mask"][batch], weights[batch])

    def validation_wape() -> float:
        return dollar_wape(trained.predict(data.validation)[0], data.validation)

    settings = FitSettings(epochs=config.epochs, patience=config.patience, learning_rate=config.learning_rate,
                           weight_decay=config.weight_decay, max_seconds=config.max_seconds, min_delta=1e-5,
                           plateau_factor=0.5, clip_norm=1.0)
    fitted = fit_loop(model, batch_losses, validation_wape, settings, score="validation_wape", log=progress)
    trained.history, trained.seconds = fitted.history, fitted.seconds
    return trained


def fit_forecaster(data: PreparedData, config: TrainConfig, progress: Callable[[str], None] | None = None,
                   booster: Booster | None = None) -> TrainedModel:
    """The forecaster that serves: the network (``train_model``), the booster blended in when
    ``config.boosting`` (its weight chosen on validation films), and the band calibrated on them last,
    so that the conformal widening sees the blended forecast. ``booster``: one already fitted on
    ``data.train`` with this seed and market dropout (it does not depend on the architecture)."""
    trained = train_model(data, config, progress)
    if config.boosting:
        network = trained.predict(data.validation)[0]
        booster = booster or Booster.fit(data.train, config.seed, market_dropout=config.market_dropout)
        validation = served_windows(data.validation, config)
        trained.blend_weight, trained.blend_scores = choose_weight(network, booster.predict(validation), data.validation)
        trained.booster = booster
    calibrate_conformal(trained, data.validation)
    trained.recent = recent_calibration(trained, data.validation)
    return trained


def recent_calibration(model, held_out: Windows) -> RecentCalibration:
    """The recent widening (forecast.calibration) of ``model``'s band, as it serves it, from the known
    outcomes of the films it never trained on (``held_out``: the validation films)."""
    model.recent = None
    return recent_widening([(held_out, model.predict(held_out)[0])])


def served_validation_wape(trained: TrainedModel) -> float:
    """The validation WAPE of what ``trained`` serves (the blend, when it has a booster)."""
    network = min(h["validation_wape"] for h in trained.history)
    return trained.blend_scores.get(trained.blend_weight, network)


def choose_serving(fitted: dict[str, TrainedModel]) -> str:
    """The architecture that serves: the lowest served validation WAPE (forecast_model and the evaluation alike)."""
    return min(fitted, key=lambda name: served_validation_wape(fitted[name]))


def _mask_market(train: dict, hidden: dict | None, batch: torch.Tensor, share: float, generator: torch.Generator) -> dict:
    """The batch's inputs, with the market group hidden in a random ``share`` of its windows (none when
    ``hidden`` is None: a model that always or never reads the market)."""
    inputs = {name: train[name][batch] for name in INPUT_NAMES}
    if hidden is None:
        return inputs
    hide = torch.rand(len(batch), generator=generator) < share
    for name in ("encoder", "decoder"):
        inputs[name] = torch.where(hide[:, None, None], hidden[name][batch], inputs[name])
    return inputs


def calibrate_conformal(trained: TrainedModel, validation: Windows, coverage: float = 0.8) -> list[float]:
    """Split-conformal (CQR) widening of the p10-p90 band per horizon, on validation films
    (``metrics.conformal_margin``), which gives ``coverage`` on exchangeable new films. Sets and returns
    ``trained.conformal``. (Calibrating on the most recent fifth to half of the validation films instead
    was measured out of time and left the coverage of 2018-2023 films at 0.70-0.71.)
    """
    trained.conformal = [0.0] * validation.target.shape[1]
    quantiles, _ = trained.predict(validation)
    widen = []
    for h in range(validation.target.shape[1]):
        observed = validation.target_mask[:, h] > 0
        band = quantiles[observed, h]
        widen.append(conformal_margin(band[:, 0], band[:, 2], validation.target[observed, h], coverage))
    trained.conformal = widen
    return widen
