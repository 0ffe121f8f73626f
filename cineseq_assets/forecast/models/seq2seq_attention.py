"""Seq2Seq with additive (Bahdanau) attention over the encoder's weekly outputs.

At each horizon step the previous decoder state queries the encoder outputs; weeks before
opening (mask 0) get no weight. The context vector feeds both the GRU step and the output head,
and the weights [B, H, L] are returned so that they can be stored and plotted.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import Bridge, MaskedLSTMEncoder, ModelConfig, QuantileHead, StaticEncoder, to_log_gross


class AdditiveAttention(nn.Module):
    def __init__(self, query: int, key: int, hidden: int):
        super().__init__()
        self.query = nn.Linear(query, hidden, bias=False)
        self.key = nn.Linear(key, hidden)
        self.score = nn.Linear(hidden, 1, bias=False)

    def forward(self, query, keys, mask):
        scores = self.score(torch.tanh(self.query(query).unsqueeze(1) + self.key(keys))).squeeze(-1)
        scores = scores.masked_fill(mask <= 0, -1e9)
        weights = torch.softmax(scores, dim=1)
        return torch.bmm(weights.unsqueeze(1), keys).squeeze(1), weights


class Seq2SeqAttention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.static_encoder = StaticEncoder(config.static_features, config.static_hidden, config.dropout)
        self.encoder = MaskedLSTMEncoder(config.encoder_features + config.static_hidden, config.hidden)
        self.bridge = Bridge(config.hidden, config.static_hidden, config.hidden)
        self.attention = AdditiveAttention(config.hidden, config.hidden, config.attention_hidden)
        self.decoder = nn.GRUCell(config.decoder_features + config.static_hidden + config.hidden, config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        self.head = QuantileHead(2 * config.hidden)

    def forward(self, encoder, encoder_mask, decoder, static, prior):
        """Quantiles of log1p gross [B, H, 3] and attention weights [B, H, L]."""
        code = self.static_encoder(static)
        steps = encoder.shape[1]
        enc_in = torch.cat([encoder, code.unsqueeze(1).expand(-1, steps, -1)], dim=2)
        memory, h, c = self.encoder(enc_in, encoder_mask)
        state = self.bridge(h, c, code)
        outputs, weights = [], []
        for step in range(decoder.shape[1]):
            context, attention = self.attention(state, memory, encoder_mask)
            state = self.decoder(torch.cat([decoder[:, step], code, context], dim=1), state)
            outputs.append(self.head(self.dropout(torch.cat([state, context], dim=1))))
            weights.append(attention)
        return to_log_gross(self.config, torch.stack(outputs, dim=1), prior), torch.stack(weights, dim=1)
