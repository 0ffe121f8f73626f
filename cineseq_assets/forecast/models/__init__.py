"""The forecasting networks, by name."""

from .common import ModelConfig
from .seq2seq import Seq2Seq
from .seq2seq_attention import Seq2SeqAttention

ARCHITECTURES = {"seq2seq": Seq2Seq, "seq2seq_attention": Seq2SeqAttention}


def build_model(architecture: str, config: ModelConfig):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](config)
