"""Standardization of the continuous inputs, fitted on training windows only.

Flags (0/1 columns) pass through unchanged; padded encoder steps stay exactly 0 so the mask
remains the only thing that marks them. The fitted statistics are saved with the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .features import CONTINUOUS, FeatureSchema
from .windows import Windows


@dataclass
class Scalers:
    mean: dict[str, list[float]]  # block -> per-column mean (0 for flags)
    std: dict[str, list[float]]  # block -> per-column std (1 for flags)
    deviation_std: float  # spread of log(actual / prior) on training windows: the output unit
    # the training films' range of each static column: a film beyond it (released after the data,
    # a budget above any seen) is read at the edge rather than extrapolated by the network
    static_range: tuple[list[float], list[float]] | None = None

    @classmethod
    def fit(cls, train: Windows, schema: FeatureSchema) -> "Scalers":
        observed = train.encoder_mask > 0
        blocks = {
            "encoder": train.encoder[observed],
            "decoder": train.decoder.reshape(-1, train.decoder.shape[-1]),
            "static": _unique_rows(train),
        }
        mean, std = {}, {}
        for block, values in blocks.items():
            names = getattr(schema, block)
            continuous = np.array([name in CONTINUOUS[block] for name in names])
            mean[block] = np.where(continuous, values.mean(axis=0), 0.0).tolist()
            spread = values.std(axis=0)
            std[block] = np.where(continuous & (spread > 1e-9), spread, 1.0).tolist()
        residual = (train.target - train.prior)[train.target_mask > 0]
        static_range = (blocks["static"].min(axis=0).tolist(), blocks["static"].max(axis=0).tolist())
        return cls(mean, std, float(max(residual.std(), 1e-3)), static_range)

    def transform(self, windows: Windows) -> dict[str, np.ndarray]:
        """Network inputs (float32) of ``windows``."""
        def scale(block: str, values: np.ndarray) -> np.ndarray:
            return (values - np.asarray(self.mean[block])) / np.asarray(self.std[block])

        encoder = scale("encoder", windows.encoder) * windows.encoder_mask[..., None]
        static = windows.static if self.static_range is None else np.clip(windows.static, *map(np.asarray, self.static_range))
        return {
            "encoder": encoder.astype(np.float32),
            "encoder_mask": windows.encoder_mask.astype(np.float32),
            "decoder": scale("decoder", windows.decoder).astype(np.float32),
            "static": scale("static", static).astype(np.float32),
            "prior": windows.prior.astype(np.float32),
        }

    def check(self, schema: FeatureSchema) -> None:
        """Refuse statistics that cannot scale this schema's inputs (a damaged or edited model file): a
        ValueError saying which, rather than a broadcast error on every forecast."""
        for block in ("encoder", "decoder", "static"):
            width = len(getattr(schema, block))
            for name, values in (("mean", self.mean.get(block)), ("std", self.std.get(block))):
                array = np.asarray(values if values is not None else [], dtype=float)
                if array.shape != (width,) or not np.isfinite(array).all():
                    raise ValueError(f"the {block} scaler's {name} holds {array.size} values, the schema "
                                     f"{width} finite ones")
            if not (np.asarray(self.std[block], dtype=float) > 0).all():
                raise ValueError(f"the {block} scaler's std is not positive")
        if not (np.isfinite(self.deviation_std) and self.deviation_std > 0):
            raise ValueError(f"the deviation std is {self.deviation_std}, not a positive number")
        if self.static_range is not None:
            low, high = (np.asarray(side, dtype=float) for side in self.static_range)
            if low.shape != (len(schema.static),) or high.shape != low.shape:
                raise ValueError(f"the static range holds {low.size} and {high.size} values, the schema {len(schema.static)}")

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "deviation_std": self.deviation_std,
                "static_range": None if self.static_range is None else [list(side) for side in self.static_range]}

    @classmethod
    def from_dict(cls, data: dict) -> "Scalers":
        static_range = data.get("static_range")
        return cls(data["mean"], data["std"], float(data["deviation_std"]), tuple(static_range) if static_range else None)


def _unique_rows(windows: Windows) -> np.ndarray:
    """One static row per film, so long runs do not weigh more in the statistics."""
    _, first = np.unique(windows.film_id.astype(str), return_index=True)
    return windows.static[first]
