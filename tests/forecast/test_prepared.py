"""Windows prepared once: training_windows stores the prepared data, forecast_model trains on exactly
those arrays (no pickle), and refuses windows built with other settings."""

from dataclasses import fields, replace

import numpy as np
import pytest

from cineseq_assets.errors import ModelError
from cineseq_assets.forecast.prepared import load_prepared, save_prepared
from cineseq_assets.forecast.train import TrainConfig, train_model
from cineseq_assets.forecast.windows import Windows


def test_prepared_windows_round_trip_exactly_and_train_the_same_model(tiny_models, tmp_path):
    trained, data = tiny_models["seq2seq"]
    config = replace(trained.train_config, epochs=1)
    save_prepared(data, config, tmp_path)
    loaded = load_prepared(tmp_path, config)
    for split in ("train", "validation", "test"):
        for field in fields(Windows):
            original, stored = getattr(getattr(data, split), field.name), getattr(getattr(loaded, split), field.name)
            assert stored.dtype == original.dtype and np.array_equal(stored, original), (split, field.name)
    assert loaded.pooled == data.pooled and loaded.scalers == data.scalers and loaded.schema == data.schema
    assert loaded.split.to_dict() == data.split.to_dict()
    again, from_disk = train_model(data, config), train_model(loaded, config)
    for name, tensor in again.model.state_dict().items():
        assert np.array_equal(tensor.numpy(), from_disk.model.state_dict()[name].numpy()), name


def test_windows_prepared_with_other_settings_are_refused(tiny_models, tmp_path):
    trained, data = tiny_models["seq2seq"]
    save_prepared(data, trained.train_config, tmp_path)
    with pytest.raises(ModelError, match="encoder_length 8 there, 12 here.*Materialize training_windows again"):
        load_prepared(tmp_path, replace(trained.train_config, encoder_length=12))
    load_prepared(tmp_path, replace(trained.train_config, hidden=128, epochs=3))  # training settings do not matter


def test_no_prepared_windows_says_what_to_materialize(tmp_path):
    with pytest.raises(ModelError, match="Materialize training_windows first"):
        load_prepared(tmp_path, TrainConfig())
