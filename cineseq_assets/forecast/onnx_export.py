"""The trained network as ONNX, and a forecaster that serves it with onnxruntime.

Serving from ONNX needs no autograd and starts fast, and the graph can be inspected with any
ONNX tool. Only the network goes into the ``.onnx`` file: the scalers, the pooled retention,
the training config and the conformal widening stay in the Parquet weights file beside it
(``store.save_model``), so ``OnnxForecaster`` reads both. A fingerprint of the weights is
written into the ONNX metadata and checked on load, so a ``.onnx`` left over from an earlier
training run is refused instead of silently serving other weights.

Two exporters exist in torch 2.13. The default here is the TorchScript one (``dynamo=False``,
opset 17): on these small unrolled recurrent networks it exports in about a second, against
10-20 seconds for the torch.export-based one (``dynamo=True``, opset 18), with the same
outputs. Both give a graph with a dynamic batch axis; ``export_onnx`` checks the exported graph
against PyTorch on a small synthetic batch before it replaces the file.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import onnx
import torch

from ..errors import ModelError
from ..onnx_graphs import export_checked
from ..processes import onnx_cpu_session
from ..storage import write_bytes_atomic
from .store import TRAIN_HINT, load_model
from .train import INPUT_NAMES, TrainedModel, finish, served_windows
from .windows import Windows

log = logging.getLogger(__name__)

OUTPUT_QUANTILES = "quantiles"
OUTPUT_ATTENTION = "attention"
TORCHSCRIPT_OPSET = 17
DYNAMO_OPSET = 18  # the lowest opset the torch.export-based exporter implements
FINGERPRINT_KEY = "cineseq_weights_sha256"
CHECK_TOLERANCE = 1e-4  # max abs difference (log1p gross) accepted between ONNX and PyTorch
REEXPORT_HINT = "Materialize forecast_model again, or export this model's network with onnx_export.export_onnx."


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__


class _ExportedNetwork(torch.nn.Module):
    """The forecaster's network with explicit input names and no ``None`` output.

    Named parameters (not ``*args``) let the exporter map ``dynamic_shapes`` to inputs; the plain
    Seq2Seq's ``None`` attention is dropped because an ONNX graph cannot return nothing.
    """

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, encoder, encoder_mask, decoder, static, prior):
        quantiles, attention = self.network(encoder, encoder_mask, decoder, static, prior)
        return (quantiles,) if attention is None else (quantiles, attention)


def output_names(architecture: str) -> list[str]:
    return [OUTPUT_QUANTILES] + ([OUTPUT_ATTENTION] if architecture == "seq2seq_attention" else [])


def weights_fingerprint(network: torch.nn.Module) -> str:
    """SHA-256 of the network's parameters (float32 bytes in name order).

    The Parquet weights file stores float32 values exactly, so the fingerprint of a reloaded
    model equals that of the model that was exported.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(tensor.detach().cpu().numpy().astype(np.float32)).tobytes())
    return digest.hexdigest()


def example_inputs(trained: TrainedModel, batch: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """A synthetic scaled batch for tracing and checking: full and short (left-padded) histories.

    Window i has ``L - 2*i`` observed weeks (at least one), so the masked steps are exercised.
    """
    config = trained.model_config
    length, horizon = config.encoder_length, config.horizon
    generator = np.random.default_rng(seed)
    observed = np.maximum(1, length - 2 * np.arange(batch))
    mask = (np.arange(length)[None, :] >= (length - observed)[:, None]).astype(np.float32)
    encoder = generator.standard_normal((batch, length, config.encoder_features)).astype(np.float32)
    return {
        "encoder": encoder * mask[..., None],
        "encoder_mask": mask,
        "decoder": generator.standard_normal((batch, horizon, config.decoder_features)).astype(np.float32),
        "static": generator.standard_normal((batch, config.static_features)).astype(np.float32),
        "prior": generator.uniform(8.0, 16.0, (batch, horizon)).astype(np.float32),
    }


def export_onnx(trained: TrainedModel, path: Path, dynamo: bool = False) -> Path:
    """Write the network of ``trained`` to ``path`` as ONNX (inputs ``INPUT_NAMES``, batch axis dynamic).

    The outputs are ``quantiles`` [B, H, 3] (log1p gross, before the conformal widening, which
    the forecaster applies) and, for the attention model, ``attention`` [B, H, L]. The file is
    replaced only after onnxruntime reproduced PyTorch on a synthetic batch.
    """
    network = _ExportedNetwork(trained.model)
    names = output_names(trained.architecture)
    data = export_checked(network, example_inputs(trained), names, dynamo=dynamo,
                          opset=DYNAMO_OPSET if dynamo else TORCHSCRIPT_OPSET,
                          dynamic={name: {0: "batch"} for name in [*INPUT_NAMES, *names]},
                          metadata={FINGERPRINT_KEY: weights_fingerprint(trained.model),
                                    "architecture": trained.architecture},
                          tolerance=CHECK_TOLERANCE, what="forecast network",
                          check_rows=(slice(0, 1), slice(None)))  # a batch of 1 and the full example
    return write_bytes_atomic(data, Path(path))


class OnnxForecaster:
    """``TrainedModel.predict`` served by onnxruntime, with the metadata of the matching weights file.

    Has ``predict``, ``pooled``, ``train_config`` and ``architecture`` like a TrainedModel, so
    ``predict.film_forecasts`` takes either.
    """

    def __init__(self, onnx_path: Path, weights_path: Path | None = None, threads: int = 2,
                 loaded: tuple[TrainedModel, dict] | None = None):
        """``loaded`` is ``store.load_model(weights_path)`` when the caller has read it already."""
        self.path = Path(onnx_path)
        self.weights_path = Path(weights_path) if weights_path is not None else self.path.with_suffix(".parquet")
        for path, what in ((self.path, "ONNX network"), (self.weights_path, "weights file")):
            if not path.exists():
                raise ModelError(path, f"no forecast {what} here (the forecast_model asset writes "
                                 "<architecture>.parquet and <architecture>.onnx together)", TRAIN_HINT)
        trained, self.metrics = loaded if loaded is not None else load_model(self.weights_path)
        self.architecture = trained.architecture
        self.model_config = trained.model_config
        self.train_config = trained.train_config
        self.scalers = trained.scalers
        self.pooled = trained.pooled
        self.schema = trained.schema
        self.conformal, self.recent = list(trained.conformal), trained.recent
        self.booster, self.blend_weight = trained.booster, trained.blend_weight
        model = self._read(self.path)
        self._check_matches(model, weights_fingerprint(trained.model))
        try:
            self.session = onnx_cpu_session(model.SerializeToString(), threads, quiet=True)
        except Exception as error:  # onnxruntime's errors (Fail, InvalidGraph, ...) share no base class with a file
            raise ModelError(self.path, f"is not a graph onnxruntime can run ({_first_line(error)})", REEXPORT_HINT) from error
        self.outputs = output_names(self.architecture)

    @staticmethod
    def _read(path: Path) -> onnx.ModelProto:
        try:
            return onnx.load(str(path))
        except Exception as error:  # protobuf's DecodeError, onnx's own and OSError: a damaged file, whichever
            raise ModelError(path, f"cannot be read as ONNX ({_first_line(error)})", REEXPORT_HINT) from error

    def _check_matches(self, model: onnx.ModelProto, fingerprint: str) -> None:
        """Refuse an ONNX file exported from other weights than the Parquet file beside it."""
        props = {p.key: p.value for p in model.metadata_props}
        inputs = [i.name for i in model.graph.input]
        if inputs != list(INPUT_NAMES):
            raise ModelError(self.path, f"has inputs {inputs}, expected {list(INPUT_NAMES)}",
                             "Materialize forecast_model again, or export the network with onnx_export.export_onnx.")
        if props.get(FINGERPRINT_KEY) != fingerprint:
            raise ModelError(self.path, f"was not exported from the weights in {self.weights_path} "
                             "(a leftover of another training run?)",
                             "Materialize forecast_model again, or export this model's network with onnx_export.export_onnx.")

    def predict(self, windows: Windows, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray | None]:
        """Quantiles of log1p gross [N, H, 3] (conformally widened) and attention [N, H, L] or None."""
        windows = served_windows(windows, self.train_config)
        inputs = self.scalers.transform(windows)
        quantiles, attention = [], []
        for start in range(0, len(windows), batch_size):
            batch = {name: inputs[name][start: start + batch_size] for name in INPUT_NAMES}
            outputs = self.session.run(self.outputs, batch)
            quantiles.append(outputs[0])
            if len(outputs) > 1:
                attention.append(outputs[1])
        return finish(np.concatenate(quantiles), windows, self), (np.concatenate(attention) if attention else None)
