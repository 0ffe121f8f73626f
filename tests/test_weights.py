"""Weights round-trip through Parquet without pickle, config and metrics included."""

import numpy as np
import pyarrow.parquet as pq

from cineseq_assets.weights import read_weights, write_weights


def test_round_trip_keeps_values_shapes_dtypes_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    state = {"conv.weight": rng.normal(size=(8, 1, 3, 3)).astype(np.float32), "bn.num_batches": np.array(7, dtype=np.int64)}
    path = write_weights(tmp_path / "m.parquet", state, {"hidden": 32}, {"agreement": np.float64(0.9)})
    loaded, config, metrics = read_weights(path)
    np.testing.assert_array_equal(loaded["conv.weight"], state["conv.weight"])
    assert loaded["conv.weight"].dtype == np.float32 and loaded["bn.num_batches"].shape == ()
    assert config == {"hidden": 32} and metrics == {"agreement": 0.9}
    assert pq.read_table(path).column_names == ["name", "shape", "dtype", "values"]
