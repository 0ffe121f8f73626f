"""Pieces both Seq2Seq models share: the masked LSTM encoder, the static encoder, the bridge
and the quantile head. Each model file composes them in its own forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

QUANTILES = (0.1, 0.5, 0.9)


@dataclass
class ModelConfig:
    """The network's shape. The architecture fields (encoder_length .. decay_residual) have no
    defaults here: they are TrainConfig's, copied by name (train.model_config)."""

    encoder_features: int
    decoder_features: int
    static_features: int
    encoder_length: int
    hidden: int  # LSTM encoder and GRU decoder state size
    static_hidden: int
    attention_hidden: int
    dropout: float
    decay_residual: bool  # predict the deviation from the decay prior (False: predict log gross)
    horizon: int = 4
    output_scale: float = 1.0  # deviation units: std of log(actual / prior) on training windows
    target_mean: float = 0.0  # direct mode: log1p gross = target_mean + target_std * output
    target_std: float = 1.0


class MaskedLSTMEncoder(nn.Module):
    """An LSTM over left-padded weeks that holds its state on masked steps.

    Unrolled over the (short) encoder length with an ``LSTMCell`` so that a film with three
    observed weeks is encoded exactly as a three-step sequence: the padded steps before its
    opening leave the state at zero instead of feeding fake zeros through the cell.
    """

    def __init__(self, features: int, hidden: int):
        super().__init__()
        self.cell = nn.LSTMCell(features + 1, hidden)
        self.hidden = hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor):
        batch, steps, _ = x.shape
        h = x.new_zeros(batch, self.hidden)
        c = x.new_zeros(batch, self.hidden)
        outputs = []
        for step in range(steps):
            m = mask[:, step: step + 1]
            h_new, c_new = self.cell(torch.cat([x[:, step], m], dim=1), (h, c))
            h = m * h_new + (1 - m) * h
            c = m * c_new + (1 - m) * c
            outputs.append(h)
        return torch.stack(outputs, dim=1), h, c


class StaticEncoder(nn.Module):
    def __init__(self, features: int, hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout))

    def forward(self, static: torch.Tensor) -> torch.Tensor:
        return self.net(static)


class Bridge(nn.Module):
    """Learned map from the encoder's final (h, c) and the static code to the decoder's h0."""

    def __init__(self, hidden: int, static_hidden: int, decoder_hidden: int):
        super().__init__()
        self.linear = nn.Linear(2 * hidden + static_hidden, decoder_hidden)

    def forward(self, h: torch.Tensor, c: torch.Tensor, static_code: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(torch.cat([h, c, static_code], dim=1)))


class QuantileHead(nn.Module):
    """p10 <= p50 <= p90 by construction: a median and two positive offsets."""

    def __init__(self, features: int):
        super().__init__()
        self.linear = nn.Linear(features, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.linear(x)
        median = raw[..., 1:2]
        lower = median - F.softplus(raw[..., 0:1])
        upper = median + F.softplus(raw[..., 2:3])
        return torch.cat([lower, median, upper], dim=-1)


def to_log_gross(config: ModelConfig, raw: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Quantiles of log1p gross [B, H, 3] from the head's raw output."""
    if config.decay_residual:
        return prior.unsqueeze(-1) + config.output_scale * raw
    return config.target_mean + config.target_std * raw


def pinball_loss(predicted: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                 weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean pinball loss over the quantiles, on observed targets only."""
    q = predicted.new_tensor(QUANTILES)
    error = target.unsqueeze(-1) - predicted
    loss = torch.maximum(q * error, (q - 1) * error).sum(-1) * mask
    if weight is not None:
        loss = loss * weight.unsqueeze(-1)
    return loss.sum() / mask.sum().clamp(min=1)
