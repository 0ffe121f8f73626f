"""Seq2Seq: masked LSTM encoder -> learned bridge -> GRU decoder over the 4 horizon weeks.

The decoder sees, at each horizon step, the covariates known at the origin (week of run,
holiday flags, scheduled wide openings, the decay prior's step) and the film's static code.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import Bridge, MaskedLSTMEncoder, ModelConfig, QuantileHead, StaticEncoder, to_log_gross


class Seq2Seq(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.static_encoder = StaticEncoder(config.static_features, config.static_hidden, config.dropout)
        self.encoder = MaskedLSTMEncoder(config.encoder_features + config.static_hidden, config.hidden)
        self.bridge = Bridge(config.hidden, config.static_hidden, config.hidden)
        self.decoder = nn.GRUCell(config.decoder_features + config.static_hidden, config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        self.head = QuantileHead(config.hidden)

    def forward(self, encoder, encoder_mask, decoder, static, prior):
        """Quantiles of log1p gross [B, H, 3]; the second output (attention) is None here."""
        code = self.static_encoder(static)
        steps = encoder.shape[1]
        enc_in = torch.cat([encoder, code.unsqueeze(1).expand(-1, steps, -1)], dim=2)
        _, h, c = self.encoder(enc_in, encoder_mask)
        state = self.bridge(h, c, code)
        outputs = []
        for step in range(decoder.shape[1]):
            state = self.decoder(torch.cat([decoder[:, step], code], dim=1), state)
            outputs.append(self.head(self.dropout(state)))
        return to_log_gross(self.config, torch.stack(outputs, dim=1), prior), None
