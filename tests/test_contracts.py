"""The column contracts between stages hold on the writers' side: what the forecaster reads is written."""

import numpy as np

from cineseq_assets import contracts
from cineseq_assets.forecast.features import STATIC_FEATURES
from cineseq_assets.frames.classifier import film_row, load_serving
from cineseq_assets.frames.labels import BUDGET_CLASSES, DEFAULT_GENRES
from cineseq_assets.trailers.embedding import EMBEDDING_COLUMNS


def test_the_trailer_features_are_columns_of_the_trailer_embedding():
    assert set(contracts.TRAILER_FEATURES) <= set(EMBEDDING_COLUMNS)


def test_the_frame_classifier_writes_every_frame_feature(frame_storage):
    classifier = load_serving(frame_storage)
    image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    for images in ([], [image]):
        row = film_row(classifier, "rl1", images)
        assert row[contracts.HAS_FRAMES] == int(bool(images))
        assert contracts.FRAME_EXPECTED_BUDGET in row
    assert set(contracts.FRAME_FEATURES) - set(row) <= {contracts.frame_genre_column(g) for g in contracts.FRAME_GENRES
                                                        if g not in classifier.genres}


def test_the_frame_labels_are_the_contract():
    assert tuple(DEFAULT_GENRES) == contracts.FRAME_GENRES
    assert tuple(BUDGET_CLASSES) == contracts.BUDGET_CLASSES


def test_the_forecaster_reads_every_contract_column():
    assert [f"trailer_{c}" for c in contracts.TRAILER_FEATURES] == [c for c in STATIC_FEATURES if c.startswith("trailer_")]
    assert [c for c in STATIC_FEATURES if c.startswith("frame_")] == list(contracts.FRAME_FEATURES)
    assert {"has_trailer", "has_frames"} <= set(STATIC_FEATURES)
