"""The distilled student: crop dataset and its source split, a short training run, ONNX export, evaluation."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cineseq_assets.trailers.emotions import FER2013_LABELS, affect, load_emotion_model
from cineseq_assets.trailers.pipeline import TrailerConfig, worker_threads
from cineseq_assets.trailers.student.data import CropDataset, Source, assign_splits, build_crop_dataset, discover_sources
from cineseq_assets.trailers.student.evaluate import confusion_markdown, evaluate, shifted, teacher_stability
from cineseq_assets.trailers.student.export import export_onnx
from cineseq_assets.trailers.student.net import StudentConfig, load_student_arrays, to_student_input
from cineseq_assets.trailers.student.train import train_student


@pytest.fixture(scope="module")
def model_dir(shared_dir):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CINESEQ_MODEL_DIR", str(shared_dir / "models"))
        yield shared_dir / "models"


@pytest.fixture(scope="module")
def detector(model_dir):
    from cineseq_assets.trailers.faces import make_detector

    return make_detector("yunet")


@pytest.fixture(scope="module")
def sources(shared_dir) -> list[Source]:
    """A small but mixed set: photos, one video, 40 poster films and 2 trailer-frame films."""
    everything = discover_sources(shared_dir)
    pick = [s for s in everything if s.kind == "photo"]
    pick += [s for s in everything if s.id == "video:single_face.mp4"]
    pick += [s for s in everything if s.kind == "poster"][:40]
    pick += [Source(s.id, s.kind, s.paths[-6:]) for s in everything if s.kind == "trailer_frames"][:2]
    return pick


@pytest.fixture(scope="module")
def dataset(sources, detector, tmp_path_factory) -> CropDataset:
    cache = tmp_path_factory.mktemp("crop_cache")
    return build_crop_dataset(sources, detector, cache, frame_step=6, val_fraction=0.2, test_fraction=0.2)


@pytest.fixture(scope="module")
def teacher(model_dir):
    return load_emotion_model("teacher")


@pytest.fixture(scope="module")
def short_run(dataset, teacher, tmp_path_factory):
    """One epoch on 48 crops: checks the machinery, not the accuracy."""
    config = StudentConfig(epochs=1, max_train_crops=48, batch_size=16)
    started = time.perf_counter()
    student = train_student(dataset, teacher, config)
    path = export_onnx(student, tmp_path_factory.mktemp("student") / "student.onnx")
    return student, path, time.perf_counter() - started


# --------------------------------------------------------------------------------------------- data

def test_discover_sources_covers_every_collection(shared_dir):
    sources = discover_sources(shared_dir)
    kinds = {s.kind for s in sources}
    assert kinds == {"video", "photo", "poster", "trailer_frames"}
    assert len({s.id for s in sources}) == len(sources)
    films_with_both = [s for s in sources if s.kind == "trailer_frames"
                       and any("posters" in str(p) for p in s.paths)]
    assert films_with_both, "a film's poster and trailer frames form one source"


def test_held_out_sources_never_appear_in_training(dataset):
    train, val, test = (dataset.sources(split) for split in ("train", "val", "test"))
    assert train and val and test
    assert not train & val and not train & test and not val & test
    for source in dataset.sources():  # every crop of a source is in the source's one split
        assert len(set(dataset.split[dataset.source_ids == source])) == 1


def test_crops_are_teacher_ready(dataset):
    assert dataset.crops.dtype == np.uint8 and dataset.crops.shape[1:] == (64, 64)
    assert len(dataset) >= 50
    assert {"photo", "video", "poster"} <= set(dataset.kinds)


def test_crop_dataset_is_cached_as_npz(sources, detector, dataset, tmp_path):
    started = time.perf_counter()
    first = build_crop_dataset(sources[:3], detector, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again = build_crop_dataset(sources[:3], detector, tmp_path)
    np.testing.assert_array_equal(first.crops, again.crops)
    build_crop_dataset(sources[:3], detector, tmp_path, min_face_px=40)  # other settings: another file
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert time.perf_counter() - started < 60


def test_crops_built_in_worker_processes_are_exactly_the_serial_ones(shared_dir, detector, tmp_path):
    from functools import partial

    from cineseq_assets.trailers.faces import make_detector

    # Videos (one without a face), photos of one and of many faces, and films
    small = [s for s in discover_sources(shared_dir) if s.id in {
        "video:single_face.mp4", "video:no_face.mp4", "photo:multi_face.jpg", "photo:single_face.jpg",
        "photo:0-f1-su-ph.jpg", "photo:newton.png"}]
    small += [s for s in discover_sources(shared_dir) if s.kind == "poster"][:4]
    settings = {"frame_step": 4, "val_fraction": 0.3, "test_fraction": 0.3}
    serial = build_crop_dataset(small, detector, tmp_path / "serial", **settings)
    with pytest.MonkeyPatch.context() as patch:  # 2 sources per task: both workers get some, out of order
        patch.setattr("cineseq_assets.trailers.student.data.SOURCES_PER_TASK", 2)
        parallel = build_crop_dataset(small, partial(make_detector, "yunet"), tmp_path / "parallel", workers=2, **settings)
    assert len(set(serial.source_ids)) >= 5 and len(serial) >= 10
    for name in CropDataset._fields():  # the same crops, boxes, provenance and split, in the same order
        np.testing.assert_array_equal(getattr(parallel, name), getattr(serial, name), err_msg=name)
    # one cache for both: the number of workers is not a setting of the data
    assert [p.name for p in (tmp_path / "serial").iterdir()] == [p.name for p in (tmp_path / "parallel").iterdir()]
    with pytest.raises(ValueError, match="function that makes the detector"):
        build_crop_dataset(small, detector, tmp_path / "instance", workers=2)


def test_an_unreadable_image_in_a_worker_process_is_reported_as_itself(media, model_dir, tmp_path):
    from functools import partial

    from cineseq_assets.errors import InputFileError
    from cineseq_assets.trailers.faces import make_detector

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    sources = [Source("photo:single_face.jpg", "photo", (media / "single_face.jpg",)),
               Source("photo:broken.jpg", "photo", (broken,))]
    with pytest.raises(InputFileError, match="broken.jpg: OpenCV cannot read this image"):
        build_crop_dataset(sources, partial(make_detector, "yunet"), tmp_path / "cache", workers=2)


def test_split_assignment_is_deterministic_and_stratified():
    kinds = {f"poster:{i}": "poster" for i in range(100)} | {"video:a": "video", "video:b": "video"}
    kinds |= {"photo:only": "photo"}
    splits = assign_splits(kinds, val_fraction=0.15, test_fraction=0.15)
    assert splits == assign_splits(dict(reversed(kinds.items())), 0.15, 0.15)
    posters = [splits[s] for s in kinds if s.startswith("poster")]
    assert posters.count("test") == 15 and posters.count("val") == 15
    assert splits["photo:only"] == "train"


# ------------------------------------------------------------------------------------ training, ONNX

def test_short_training_run_exports_an_onnx_student_that_onnxruntime_runs(short_run, dataset):
    student, path, seconds = short_run
    assert seconds < 30
    assert student.epochs_run == 1 and student.train_crops == min(48, len(dataset.subset("train")))
    curve = student.learning_curve()  # the asset's metadata shows it
    assert curve["epoch"].tolist() == list(range(1, student.epochs_run + 1))
    assert curve.loc[curve["best"], "epoch"].tolist() == [student.best_epoch] == [1]
    model = load_emotion_model("student", student_path=path)
    assert model.labels == FER2013_LABELS and model.contract.size == student.config.input_size
    probabilities = model.predict_gray(dataset.crops[:10])
    assert probabilities.shape == (10, 7)
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)
    bgr = [np.repeat(crop[:, :, None], 3, axis=2) for crop in dataset.crops[:3]]
    assert model.predict(bgr).shape == (3, 7)
    valence, arousal = affect(probabilities, model.labels)
    assert np.all(np.abs(valence) <= 1) and np.all(np.abs(arousal) <= 1)


def test_onnx_student_matches_pytorch(short_run, dataset):
    import torch

    student, path, _ = short_run
    model = load_emotion_model("student", student_path=path)
    with torch.no_grad():
        inputs = torch.from_numpy(to_student_input(dataset.crops[:8], student.config.input_size))
        expected = torch.softmax(student.model(inputs), 1)
    np.testing.assert_allclose(model.predict_gray(dataset.crops[:8]), expected.numpy(), atol=1e-5)


def test_weights_round_trip_without_pickle(short_run, dataset, tmp_path):
    import torch

    from cineseq_assets.weights import read_weights, write_weights

    student, _, _ = short_run
    arrays = student.state_arrays()
    assert all(isinstance(value, np.ndarray) for value in arrays.values())
    state, config, _ = read_weights(write_weights(tmp_path / "student.parquet", arrays, student.config_dict()))
    rebuilt = load_student_arrays(state, config)
    # The stored weights are the trained ones, bit for bit.
    assert set(state) == set(arrays)
    for name, value in arrays.items():
        assert state[name].dtype == value.dtype and np.array_equal(state[name], value), name
    for name, tensor in rebuilt.state_dict().items():
        assert np.array_equal(tensor.numpy(), arrays[name]), name
    # The outputs within float32 rounding: the rebuilt net's kernels may sum in another order.
    inputs = torch.from_numpy(to_student_input(dataset.crops[:4], student.config.input_size))
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(inputs), student.model(inputs), rtol=1e-4, atol=1e-4)


def test_evaluate_reports_agreement_affect_error_and_speed(short_run, dataset, teacher):
    _, path, _ = short_run
    report = evaluate(path, teacher, dataset, timing_seconds=0.2)
    assert report.test_crops == len(dataset.subset("test")) and report.test_sources >= 1
    assert 0 <= report.agreement <= 1
    assert set(report.agreement_by_kind) <= {"photo", "video", "poster", "trailer_frames"}
    assert 0 <= report.valence_mad <= 2 and 0 <= report.arousal_mad <= 2
    assert set(report.teacher_faces_per_s) == set(report.student_faces_per_s) == {1, 32}
    assert report.speedup(32) > 0
    # Timed on the threads the trailer pipeline gives its emotion model, where the speed counts
    assert report.threads == worker_threads(TrailerConfig())[1]
    # The ceiling and the gate
    assert 0 <= report.stable_share <= min(report.teacher_flip_agreement, report.teacher_shift_agreement) <= 1
    assert set(report.ceiling_by_kind) == set(report.agreement_by_kind)
    assert sum(sum(row) for row in report.confusion) == report.test_crops
    diagonal = sum(report.confusion[k][k] for k in range(len(report.labels)))
    assert diagonal == round(report.agreement * report.test_crops)
    gate = report.gate()
    assert len(gate) == 6 and report.passes_gate() == all(passed for *_, passed in gate.values())
    table = confusion_markdown(report)
    assert table.count("\n") == len(report.labels) + 1 and all(label in table for label in report.labels)


def test_the_shift_moves_the_crop_and_repeats_the_edge():
    crop = np.arange(64 * 64, dtype=np.uint8).reshape(1, 64, 64)
    moved = shifted(crop, 2)
    assert np.array_equal(moved[0, :, 2:], crop[0, :, :-2])
    assert np.array_equal(moved[0, :, 0], crop[0, :, 0]) and np.array_equal(moved[0, :, 1], crop[0, :, 0])


def test_a_symmetric_face_is_stable_under_the_flip(teacher, dataset):
    crops = dataset.crops[:16]
    symmetric = np.concatenate([crops[:, :, :32], crops[:, :, :32][:, :, ::-1]], axis=2)
    top1 = teacher.predict_gray(symmetric).argmax(1)
    flip_same, shift_same = teacher_stability(teacher, symmetric, top1)
    assert flip_same.all() and flip_same.shape == shift_same.shape == (16,)
