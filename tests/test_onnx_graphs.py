"""onnx_graphs.export_checked: both exporters, dynamic axes, metadata, and the refusal of a graph that is not the module."""

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from cineseq_assets.onnx_graphs import export_checked
from cineseq_assets.processes import onnx_cpu_session
from cineseq_assets.trailers.convert import export_nchw_onnx


class _TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(4, 3)

    def forward(self, features, scale):
        hidden = self.linear(features)
        return hidden * scale, hidden.sum(dim=1)


class _DoublesWhenExported(nn.Module):
    """A module whose exported graph is not the module: it doubles its input only while being exported."""

    def forward(self, x):
        exporting = torch.jit.is_tracing() or torch.compiler.is_exporting()
        return x * 2 if exporting else x


def _example(rows: int = 2) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(1)
    return {"features": generator.standard_normal((rows, 4)).astype(np.float32),
            "scale": generator.uniform(1, 2, (rows, 1)).astype(np.float32)}


BOTH_EXPORTERS = pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "torch.export"])


@BOTH_EXPORTERS
def test_the_graph_runs_any_batch_and_carries_its_metadata(dynamo):
    names = ["scaled", "total"]
    data = export_checked(_TwoOutputs(), _example(), names, opset=18 if dynamo else 17, dynamo=dynamo,
                          dynamic={"features": {0: "batch"}, "scale": {0: "batch"}, "scaled": {0: "batch"},
                                   "total": {0: "batch"}},
                          tolerance=1e-5, what="test network", metadata={"made_by": "a test"})
    props = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    assert props["made_by"] == "a test"
    larger = _example(rows=7)
    scaled, total = onnx_cpu_session(data, threads=1).run(names, larger)
    with torch.no_grad():
        want = _TwoOutputs()(*(torch.from_numpy(v) for v in larger.values()))
    np.testing.assert_allclose(scaled, want[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(total, want[1].numpy(), atol=1e-5)


@BOTH_EXPORTERS
def test_a_graph_that_is_not_the_module_is_refused_and_names_what_and_which_output(dynamo):
    with pytest.raises(RuntimeError, match=r"of the test module: doubled differs from PyTorch by 2\.00e-01"):
        export_checked(_DoublesWhenExported(), {"x": np.full((2, 1), 0.2, np.float32)}, ["doubled"],
                       opset=18 if dynamo else 17, dynamo=dynamo, dynamic={}, tolerance=1e-3, what="test module")


def test_a_refused_export_writes_no_file(tmp_path):
    target = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError, match="emotion network"):
        export_nchw_onnx(_DoublesWhenExported(), target, (1, 4, 4))
    assert list(tmp_path.iterdir()) == []
