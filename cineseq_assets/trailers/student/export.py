"""The trained student as ONNX, carrying its emotion contract and settings in the file's metadata."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn

from cineseq_assets.trailers.convert import export_nchw_onnx
from cineseq_assets.trailers.emotions import CONTRACT_METADATA_KEY

from .net import student_contract
from .train import TrainedStudent


class _WithSoftmax(nn.Module):
    """The logits net plus a softmax, so the ONNX file returns probabilities like the teacher."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def export_onnx(student: TrainedStudent, path: str | Path) -> Path:
    """Write the student as ONNX (input ``input`` [N, 1, S, S], output ``predictions`` softmax [N, 7]).

    The file carries its :class:`EmotionContract` in its metadata, so ``load_emotion_model("student")``
    knows its input size, scaling, crop margin and labels without any side file.
    """
    size = student.config.input_size
    model = copy.deepcopy(student.model).eval().to(memory_format=torch.contiguous_format)
    metadata = {CONTRACT_METADATA_KEY: student_contract(size, student.labels).to_json(),
                "cineseq_student_config": json.dumps(student.config_dict())}
    return export_nchw_onnx(_WithSoftmax(model), path, (1, size, size), metadata, what="emotion student")
