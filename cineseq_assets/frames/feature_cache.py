"""The frozen MobileNetV2 blocks' output, cached on disk by image content.

Training a transfer model runs its frozen blocks once over every training image, its mirror image
and every validation image (the largest part of a first training run on the poster set). What comes
out depends only on the image's pixels, the frozen blocks' weights and where the backbone is split, so
``FeatureCache`` keeps each image's activations in a file of its own, named by a hash of its pixels,
inside a folder named by a hash of the frozen blocks' weights (and the ImageNet normalization), the
split block, the input size and ``CACHE_VERSION``. A change of any of them is another folder, never
a stale hit. A retraining on the same images reads the files instead of running the network.

- When nothing after the split trains (the transfer model: MobileNetV2 frozen whole, only the global
  average pooling follows), the pooled 1280-d vector is what is cached and what training holds:
  2.5 KB per image instead of 64 KB for the 5x5 maps.
- ``shared_blocks``: earlier split points worth keeping on the way. Computing the transfer model's
  activations (blocks 0-18) passes through block 16's output, which is exactly what the fine-tuned
  model (blocks 0-16 frozen) caches: stored on the way, the backbone runs once per image for both.
- A file carries a checksum of its bytes: a damaged file (truncated, overwritten, another shape) is
  computed again and rewritten, never an error and never read as features. Writes are atomic.
- Memory: the result tensor (what training holds anyway) and one batch; files are read one at a time.
- The frozen blocks run in onnxruntime (frozen_graph.py: about 3x faster than PyTorch on 2 cores).
  The graph is exported from the frozen modules once and kept beside the activations, under
  ``graphs/`` in a file named by the same hash of the weights (and the split points), with the same
  checksum: other weights export another graph, and a damaged file is exported again.
- Without a folder (``FeatureCache(None)``) nothing is read or written: the activations are computed
  by the same graph, so a run with a cache and one without train on the same numbers.

Plain PyTorch, onnxruntime and NumPy: no Dagster here. The frame_classifier asset keeps the cache
under its storage folder (``<storage>/cache/frame_features``).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..storage import write_bytes_atomic
from . import frozen_graph

# 2: computed by onnxruntime (frozen_graph.py), no longer PyTorch: the float16 values may differ in
# their last bit, so the older files are not mixed in.
CACHE_VERSION = 2
DIGEST_BYTES = 16  # blake2b digest of the payload at the head of each file


@dataclass
class CacheCounts:
    """What one cache did: images read from files, computed, and damaged files computed again."""

    hits: int = 0
    computed: int = 0
    damaged: int = 0

    def since(self, before: "CacheCounts") -> "CacheCounts":
        """What was counted after ``before`` (a copy taken earlier)."""
        return CacheCounts(self.hits - before.hits, self.computed - before.computed, self.damaged - before.damaged)

    def __str__(self) -> str:
        damaged = f", {self.damaged} damaged file(s) recomputed" if self.damaged else ""
        return f"{self.hits} images read from the feature cache, {self.computed} computed{damaged}"


def image_keys(pixels: np.ndarray) -> list[str]:
    """One hash per image of (N, S, S, 3) uint8 pixels: its shape and bytes (a mirror image is another key)."""
    keys = []
    for image in pixels:
        digest = hashlib.blake2b(str(image.shape).encode(), digest_size=16)
        digest.update(np.ascontiguousarray(image).tobytes())
        keys.append(digest.hexdigest())
    return keys


def _weights_digest(modules: Iterable[nn.Module], extra: Iterable[torch.Tensor]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for module in modules:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for tensor in extra:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class FeatureCache:
    """Activations of a transfer FrameNet's frozen blocks, one file per image under ``folder``
    (``None``: computed, never stored)."""

    def __init__(self, folder: str | Path | None, shared_blocks: Iterable[int] = ()):
        self.folder = Path(folder) if folder is not None else None
        self.shared_blocks = tuple(sorted(set(shared_blocks)))
        self.counts = CacheCounts()
        self._sessions: dict[str, object] = {}  # graph name -> its onnxruntime session, built once per cache

    # ------------------------------------------------------------------------------ what is cached

    def activations(self, net, pixels: np.ndarray, batch_size: int = 64) -> torch.Tensor:
        """What the frozen part of ``net`` (a transfer FrameNet) gives for each image, float16:
        features[:block] of the normalized pixels, pooled when nothing after the split trains.
        ``trainable_rest(net)`` maps it on to the 1280-d embedding."""
        trunk = net.trunk
        size = pixels.shape[1]
        pooled = _tail_is_fixed(trunk)
        shape = _output_shape(net, trunk.block, size, pooled)
        out = torch.empty((len(pixels), *shape), dtype=torch.float16)
        if self.folder is None:
            keys, missing = [], list(range(len(pixels)))
        else:
            keys, missing = image_keys(pixels), []
            space = self._space(net, trunk.block, size, pooled)
            for i, key in enumerate(keys):
                stored = self._read(space / key[:2] / f"{key}.npy", shape)
                if stored is None:
                    missing.append(i)
                else:
                    out[i] = torch.from_numpy(stored)
                    self.counts.hits += 1
        if missing:
            self._compute(net, pixels, keys, missing, out, size, pooled, batch_size)
        return out

    def _compute(self, net, pixels: np.ndarray, keys: list[str], missing: list[int], out: torch.Tensor, size: int,
                 pooled: bool, batch_size: int) -> None:
        stops = tuple(block for block in self.shared_blocks if 0 < block < net.trunk.block) + (net.trunk.block,)
        session = self._session(net, stops, pooled)
        spaces = {block: self._space(net, block, size, pooled and block == stops[-1])
                  for block in stops} if self.folder is not None else {}
        for begin in range(0, len(missing), batch_size):
            batch = missing[begin:begin + batch_size]
            results = session.run(None, {frozen_graph.INPUT: np.ascontiguousarray(pixels[batch])})
            for block, result in zip(stops, results):
                result = result.astype(np.float16)
                if self.folder is not None:
                    for row, i in enumerate(batch):
                        self._write(spaces[block] / keys[i][:2] / f"{keys[i]}.npy", result[row])
            out[batch] = torch.from_numpy(result)  # the last stop: this net's split
            self.counts.computed += len(batch)

    def _space(self, net, block: int, size: int, pooled: bool) -> Path:
        """The folder of one (frozen weights, split block, input size, pooled) combination."""
        name = _digest(f"{_frozen_digest(net, block)}/{block}/{size}/{pooled}")
        return self.folder / f"block{block}_{size}px{'_pooled' if pooled else ''}_{name}"

    def _session(self, net, stops: tuple[int, ...], pooled: bool):
        """The onnxruntime session of the frozen blocks up to ``stops[-1]``: from the graph file when
        it is there and whole, else exported (and stored)."""
        name = _digest(f"{_frozen_digest(net, stops[-1])}/{stops}/{pooled}/opset{frozen_graph.OPSET}")
        if name not in self._sessions:
            path = self.folder / "graphs" / f"frozen_{name}.onnx" if self.folder is not None else None
            data = self._read_checked(path) if path is not None else None
            if data is None:
                data = frozen_graph.export_graph(net, stops, pooled)
                if path is not None:
                    self._write_checked(path, data)
            self._sessions[name] = frozen_graph.session(data)
        return self._sessions[name]

    # ---------------------------------------------------------------------------------- the files

    def _read(self, path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
        """The stored activations, or None when missing or damaged (a damaged file is counted)."""
        payload = self._read_checked(path)
        if payload is None:
            return None
        try:
            array = np.load(io.BytesIO(payload), allow_pickle=False)
        except (ValueError, OSError, EOFError):
            self.counts.damaged += 1
            return None
        if array.shape != shape or array.dtype != np.float16:
            self.counts.damaged += 1
            return None
        return array

    def _read_checked(self, path: Path) -> bytes | None:
        """A file's payload when its checksum holds; None when missing or damaged (counted)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            self.counts.damaged += 1
            return None
        digest, payload = data[:DIGEST_BYTES], data[DIGEST_BYTES:]
        if hashlib.blake2b(payload, digest_size=DIGEST_BYTES).digest() != digest:
            self.counts.damaged += 1
            return None
        return payload

    @classmethod
    def _write(cls, path: Path, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        cls._write_checked(path, buffer.getvalue())

    @staticmethod
    def _write_checked(path: Path, payload: bytes) -> None:
        write_bytes_atomic(hashlib.blake2b(payload, digest_size=DIGEST_BYTES).digest() + payload, path)


def _frozen_digest(net, block: int) -> str:
    """A hash of the weights of ``features[:block]`` and the ImageNet normalization, with CACHE_VERSION."""
    return f"{CACHE_VERSION}/{_weights_digest(list(net.trunk.frozen[:block]), (net.mean, net.std))}"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _tail_is_fixed(trunk) -> bool:
    """Whether nothing after the split has weights (the frozen transfer model: pooling only)."""
    return not any(True for _ in trunk.tail.parameters())


def _output_shape(net, block: int, size: int, pooled: bool) -> tuple[int, ...]:
    with torch.no_grad():
        hidden = net.trunk.frozen[:block](torch.zeros(1, 3, size, size))
        return tuple((net.trunk.tail(hidden) if pooled else hidden).shape[1:])


def frozen_part_output(net, pixels_tensor: torch.Tensor) -> torch.Tensor:
    """What FeatureCache.activations caches (before the float16 cast), computed by the PyTorch modules
    themselves: the reference the onnxruntime graph is held to."""
    trunk = net.trunk
    hidden = trunk.frozen(net.normalize(pixels_tensor))
    return trunk.tail(hidden) if _tail_is_fixed(trunk) else hidden


def trainable_rest(net, cached: torch.Tensor) -> torch.Tensor:
    """From the cached activations (float16) to the 1280-d embedding the head reads."""
    cached = cached.float()
    return cached if _tail_is_fixed(net.trunk) else net.trunk.tail(cached)
