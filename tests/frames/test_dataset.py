"""The labelled image sets: budget joins, splits by film, pixels."""

import cv2
import numpy as np
import pandas as pd
import pytest

from cineseq_assets.frames.dataset import (
    ImageSetError,
    attach_budgets,
    read_image_set,
    read_pixels,
    read_pixels_sizes,
    split_by_film,
    to_model_pixels,
)
from cineseq_assets.frames.experiment import ExperimentConfig, _with_splits


def test_both_sets_are_read_with_their_labels(labelled):
    assert len(labelled.posters) == 4465 and labelled.posters["film"].is_unique
    assert len(labelled.trailer_frames) == 620 and labelled.trailer_frames["film"].nunique() == 10
    assert labelled.posters["genres"].map(len).between(0, 3).all()


def test_budget_join_rate_and_routes_are_reported(labelled):
    report = labelled.budget_report["posters"]
    assert report["films"] == 4465
    assert 0.6 < report["join_rate"] < 0.75  # SOURCE.md: 2,996 of the films were kept for matching a budget source
    assert report["by_route"]["tmdb_id"] > report["by_route"]["the_numbers_title_year"] > 0
    assert report["class_agreement_tmdb_id_vs_the_numbers"]["same_class"] > 0.9
    assert labelled.budget_report["trailer_frames"]["join_rate"] == 1.0


def test_known_budgets_of_the_trailer_films(labelled):
    frames = labelled.trailer_frames.drop_duplicates("film").set_index("title")
    assert frames.loc["Primer", "budget_class"] == 0  # $7,000: a real micro-budget, kept
    assert frames.loc["Captain America: The First Avenger", "budget_class"] == 4


def test_the_id_route_wins_over_a_title_match():
    images = pd.DataFrame({"film": ["a"], "title": ["Same Title"], "year": [2000], "tmdb_id": pd.array([7], "Int64")})
    metadata = pd.DataFrame({"source": ["the_numbers", "tmdb"], "title": ["Same Title", "Other"],
                             "release_date": pd.to_datetime(["2000-05-01", "1990-01-01"]),
                             "tmdb_id": pd.array([pd.NA, 7], "Int64"), "budget": [5e6, 60e6]})
    joined, report = attach_budgets(images, metadata)
    assert joined["budget"].tolist() == [60e6] and joined["budget_route"].tolist() == ["tmdb_id"]
    assert report["class_agreement_tmdb_id_vs_the_numbers"] == {"films": 1, "same_class": 0.0}


def test_splits_never_share_a_film_and_keep_each_decade(labelled):
    images = pd.concat([labelled.posters, labelled.posters.head(50)])  # a film with two images
    split = split_by_film(images)
    assert (images.assign(split=split).groupby("film")["split"].nunique() == 1).all()
    shares = pd.crosstab(images["decade"], split, normalize="index")
    assert shares["test"].between(0.12, 0.18).all() and shares["val"].between(0.12, 0.18).all()


def test_trailer_test_films_never_train(labelled):
    posters = _with_splits(labelled, ExperimentConfig())
    assert not set(posters["film"]) & set(labelled.trailer_frames["film"])


def test_pixels_are_square_rgb_without_letterbox_bars():
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:80] = (255, 0, 0)  # blue in BGR, between black bars
    pixels = to_model_pixels(image, 32)
    assert pixels.shape == (32, 32, 3)
    assert (pixels[..., 2] > 200).all() and (pixels[..., :2] < 30).all()  # all blue, now in RGB order


def test_decoding_once_for_several_sizes_gives_what_each_size_alone_gives(labelled):
    paths = labelled.posters["path"].head(5).tolist() + labelled.trailer_frames["path"].head(3).tolist()
    both = read_pixels_sizes(paths, [96, 160])
    for size in (96, 160):
        assert np.array_equal(both[size], read_pixels(paths, size))
        assert np.array_equal(both[size][6], to_model_pixels(cv2.imread(paths[6]), size))


def test_an_unreadable_image_is_named(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_text("not a jpeg")
    with pytest.raises(ImageSetError, match="broken.jpg"):
        read_pixels([str(bad)], 32)


def test_a_set_without_labels_csv_is_named(tmp_path):
    with pytest.raises(ImageSetError, match="labels.csv"):
        read_image_set(tmp_path)
