"""Face detection on the real shared images and clips (see ../shared/media/SOURCE.md).

Reference boxes for newton.png and gauss.png are the ones in the scrfd package's own
tests/truth_faces.py (cospectrum/scrfd); the face counts are those SOURCE.md records.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cineseq_assets.errors import CineSeqError
from cineseq_assets.model_files import ModelNotFoundError, get
from cineseq_assets.processes import available_cores
from cineseq_assets.trailers.faces import (
    Face,
    ScrfdDetector,
    UnknownDetectorError,
    YunetDetector,
    available_threads,
    box_iou,
    crop_face,
    make_detector,
)
from cineseq_assets.trailers.scrfd import dynamic_scrfd_graph, plan_copies

# (x1, y1, x2, y2) and keypoints from scrfd's tests/truth_faces.py
NEWTON_BOX = (334, 89, 438, 232)
NEWTON_KEYPOINTS = [(371, 143), (419, 145), (399, 177), (371, 197), (409, 199)]
GAUSS_BOX = (376, 203, 654, 568)
POSED = ["0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg"]


@pytest.fixture(scope="module")
def model_dir(shared_dir) -> Path:
    return shared_dir / "models"


@pytest.fixture(scope="module")
def scrfd(model_dir) -> ScrfdDetector:
    return ScrfdDetector(model_dir / get("scrfd_2.5g_kps").filename)


@pytest.fixture(scope="module")
def scrfd_single_pass(model_dir) -> ScrfdDetector:
    return ScrfdDetector(model_dir / get("scrfd_2.5g_kps").filename, scales=(1.0,))


@pytest.fixture(scope="module")
def yunet(model_dir) -> YunetDetector:
    return YunetDetector(model_dir / get("yunet").filename)


@pytest.fixture(scope="module", params=["scrfd", "yunet"])
def detector(request):
    return request.getfixturevalue(request.param)


def read(media: Path, name: str) -> np.ndarray:
    image = cv2.imread(str(media / name))
    assert image is not None, f"cannot read {media / name}"
    return image


def frames(path: Path, every: int) -> list[np.ndarray]:
    """Every `every`-th decoded frame of a clip."""
    capture = cv2.VideoCapture(str(path))
    picked, index = [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % every == 0:
            picked.append(frame)
        index += 1
    capture.release()
    assert picked, f"no frames decoded from {path}"
    return picked


# ----------------------------------------------------------------------------- counts on real images

@pytest.mark.parametrize("image, count", [
    ("solvay_conference_1927.jpg", 29),
    ("multi_face.jpg", 5),
    ("single_face.jpg", 1),
    ("newton.png", 1),
    ("gauss.png", 1),
])
def test_face_counts_on_real_images(detector, media, image, count):
    assert len(detector.detect(read(media, image))) == count


def test_single_pass_scrfd_also_finds_the_29_solvay_faces(scrfd_single_pass, media):
    assert len(scrfd_single_pass.detect(read(media, "solvay_conference_1927.jpg"))) == 29


@pytest.mark.parametrize("image, reference", [("newton.png", NEWTON_BOX), ("gauss.png", GAUSS_BOX)])
def test_portrait_box_matches_the_scrfd_reference(detector, media, image, reference):
    (face,) = detector.detect(read(media, image))
    assert box_iou(face.box, reference) > 0.85


def test_scrfd_keypoints_match_the_reference(scrfd_single_pass, media):
    (face,) = scrfd_single_pass.detect(read(media, "newton.png"))
    assert face.keypoints.shape == (5, 2)
    assert np.abs(face.keypoints - np.array(NEWTON_KEYPOINTS)).max() < 4


def test_both_detectors_order_keypoints_the_same_way(scrfd, yunet, media):
    image = read(media, "newton.png")
    (a,), (b,) = scrfd.detect(image), yunet.detect(image)
    assert np.abs(a.keypoints - b.keypoints).max() < 10
    left_eye, right_eye, nose, mouth_left, mouth_right = a.keypoints
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0] and nose[1] < mouth_left[1]


def test_faces_are_sorted_by_score_and_inside_the_image(detector, media):
    image = read(media, "solvay_conference_1927.jpg")
    faces = detector.detect(image)
    scores = [face.score for face in faces]
    assert scores == sorted(scores, reverse=True)
    height, width = image.shape[:2]
    for face in faces:
        x1, y1, x2, y2 = face.box
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert isinstance(face.score, float)


# ------------------------------------------------------------------- close-ups: the downscaled pass

@pytest.mark.parametrize("image", POSED)
def test_scrfd_finds_the_close_up_face_on_posed_photos(scrfd, yunet, media, image):
    picture = read(media, image)
    (face,) = scrfd.detect(picture)
    (reference,) = yunet.detect(picture)
    assert box_iou(face.box, reference.box) > 0.7


def test_single_pass_misses_close_ups_which_is_why_scrfd_has_a_second_pass(scrfd_single_pass, media):
    found = [len(scrfd_single_pass.detect(read(media, image))) for image in POSED]
    assert 0 in found


def test_each_copy_runs_on_an_input_just_large_enough_for_it():
    full, half = plan_copies(720, 1280, (1.0, 0.5))
    assert (full.width, full.height, full.scale, full.input_shape) == (640, 360, 0.5, (384, 640))
    assert (half.width, half.height, half.scale, half.input_shape) == (320, 180, 0.25, (192, 320))
    assert [copy.input_shape for copy in plan_copies(512, 512, (1.0, 0.5))] == [(640, 640), (320, 320)]
    assert [copy.input_shape for copy in plan_copies(2171, 3000, (1.0,), size=480)] == [(352, 480)]


def test_the_free_shape_graph_computes_what_the_exported_one_does(model_dir):
    """The rewrite swaps the upsampling targets for a factor of 2: on the exported 640x640 input
    the outputs must not change, and other shapes must run."""
    import onnxruntime

    path = model_dir / get("scrfd_2.5g_kps").filename
    exported = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    free = onnxruntime.InferenceSession(dynamic_scrfd_graph(path).SerializeToString(),
                                        providers=["CPUExecutionProvider"])
    blob = np.random.default_rng(0).uniform(-1, 1, (1, 3, 640, 640)).astype(np.float32)
    for a, b in zip(exported.run(None, {"input.1": blob}), free.run(None, {"input.1": blob})):
        np.testing.assert_allclose(a, b, atol=1e-4)
    score_8 = free.run(["score_8"], {"input.1": blob[:, :, :384, :320]})[0]
    assert score_8.shape == (1, 384 // 8 * 320 // 8 * 2, 1)


def test_a_smaller_input_size_runs_the_same_weights(model_dir, media):
    """480x480 costs ~60% of 640's CPU time and still finds every Solvay face and the reference box."""
    scrfd_480 = ScrfdDetector(model_dir / get("scrfd_2.5g_kps").filename, input_size=480)
    assert len(scrfd_480.detect(read(media, "solvay_conference_1927.jpg"))) == 29
    (face,) = scrfd_480.detect(read(media, "newton.png"))
    assert box_iou(face.box, NEWTON_BOX) > 0.85
    assert all(len(scrfd_480.detect(read(media, image))) == 1 for image in POSED)


def test_input_size_and_scales_are_checked(model_dir):
    path = model_dir / get("scrfd_2.5g_kps").filename
    with pytest.raises(ValueError, match="multiple of 32"):
        ScrfdDetector(path, input_size=500)
    with pytest.raises(ValueError, match="fractions"):
        ScrfdDetector(path, scales=(1.0, 2.0))
    with pytest.raises(ValueError, match="precision"):
        ScrfdDetector(path, precision="int4")


# ----------------------------------------------------------------------------------- no faces

def test_no_face_in_the_no_face_clip(detector, media):
    for frame in frames(media / "no_face.mp4", every=10):
        assert detector.detect(frame) == []


def test_big_buck_bunny_gives_at_most_the_cartoon_face_at_low_confidence(scrfd, media):
    """The clip has no human face, but Big Buck Bunny himself has a face-like head that detectors
    find. SCRFD scores it below 0.7 (every real face in the shared media scores above that) and
    never finds more than that one face. Frames are taken at 2 per second, as the trailer stage does."""
    for frame in frames(media / "bigbuckbunny_5s_720p.mp4", every=12):
        faces = scrfd.detect(frame)
        assert len(faces) <= 1
        assert all(face.score < 0.7 for face in faces)


# ------------------------------------------------------------------------------ construction

def test_make_detector_locates_the_model_through_the_registry(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("CINESEQ_CACHE_DIR", str(tmp_path / "cache"))
    scrfd = make_detector("scrfd", threads=1, precision="fp32")  # int8 would be derived into the empty cache
    assert scrfd.model_path == model_dir / get("scrfd_2.5g_kps").filename and scrfd.threads == 1
    assert make_detector("YuNet").model_path == model_dir / get("yunet").filename


def test_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CINESEQ_MODEL_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("CINESEQ_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ModelNotFoundError, match="cineseq models fetch scrfd_2.5g_kps"):
        make_detector("scrfd")


def test_unknown_detector_kind_lists_the_kinds():
    with pytest.raises(UnknownDetectorError, match="scrfd, yunet") as error:
        make_detector("haar")
    assert isinstance(error.value, CineSeqError)


def test_thread_count_never_exceeds_the_cores(model_dir):
    path = model_dir / get("scrfd_2.5g_kps").filename
    assert ScrfdDetector(path, threads=10_000).threads == available_threads()
    assert ScrfdDetector(path).threads == available_threads()


def test_a_dask_worker_runs_its_models_on_one_thread(model_dir, monkeypatch):
    """Dask's nanny sets OMP_NUM_THREADS=1 in each worker: two workers on two cores, two threads in all."""
    path = model_dir / get("scrfd_2.5g_kps").filename
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert available_threads() == 1 and ScrfdDetector(path).threads == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert available_threads() == available_cores()
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert available_threads() == available_cores()


def test_one_detector_serves_several_threads_at_once(detector, media):
    """The trailer pipeline runs frames on two workers that share one detector."""
    from concurrent.futures import ThreadPoolExecutor

    images = [cv2.imread(str(media / name)) for name in ["multi_face.jpg", "single_face.jpg", *POSED]] * 3
    alone = [[face.box for face in detector.detect(image)] for image in images]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda image: [face.box for face in detector.detect(image)], images))
    assert together == alone and sum(map(len, alone)) >= 6


def test_grayscale_frames_are_accepted(scrfd, media):
    gray = cv2.cvtColor(read(media, "single_face.jpg"), cv2.COLOR_BGR2GRAY)
    assert len(scrfd.detect(gray)) == 1


# ------------------------------------------------------------------------------------ crop_face

def test_crop_face_adds_the_margin_in_pixels():
    image = np.zeros((100, 200, 3), np.uint8)
    crop = crop_face(image, Face((50.0, 30.0, 90.0, 80.0), 0.9), margin=10)
    assert crop.shape == (70, 60, 3)


def test_crop_face_clamps_to_the_image():
    image = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8)
    crop = crop_face(image, Face((-5.0, 2.0, 30.0, 99.5), 0.9), margin=10)
    assert crop.shape == (100, 40, 3)
    assert np.array_equal(crop, image[:, :40])


def test_crop_face_float_margin_is_a_fraction_of_the_box():
    image = np.zeros((300, 300, 3), np.uint8)
    crop = crop_face(image, Face((100.0, 100.0, 200.0, 150.0), 0.9), margin=0.1)
    assert crop.shape == (60, 120, 3)


def test_crop_face_refuses_a_float_margin_that_looks_like_pixels():
    with pytest.raises(ValueError, match="pass an int for pixels"):
        crop_face(np.zeros((10, 10, 3), np.uint8), Face((1.0, 1.0, 5.0, 5.0), 0.9), margin=10.0)


def test_crop_face_of_a_real_face(scrfd, media):
    image = read(media, "single_face.jpg")
    (face,) = scrfd.detect(image)
    crop = crop_face(image, face, margin=10)
    assert abs(crop.shape[1] - (face.width + 20)) <= 2 and abs(crop.shape[0] - (face.height + 20)) <= 2


def test_yunet_starts_without_opencvs_engine_warning_and_keeps_its_log_level(model_dir, capfd):
    """FaceDetectorYN.create logs a WARN line about targets that a new user took for a problem."""
    level = cv2.utils.logging.getLogLevel()
    capfd.readouterr()
    YunetDetector(model_dir / get("yunet").filename)
    assert "WARN" not in capfd.readouterr().err
    assert cv2.utils.logging.getLogLevel() == level
