"""Labels: budget classes, the genre set, and the bits-in-file-name folder convention."""

import json

import numpy as np
import pytest

from cineseq_assets.frames.labels import (
    BUDGET_CLASSES,
    DEFAULT_GENRES,
    UNKNOWN_BUDGET,
    LabelFolderError,
    budget_class,
    decode_name,
    encode_name,
    export_folder,
    genre_matrix,
    import_folder,
    top_genres,
)


@pytest.mark.parametrize("budget, expected", [(7_000, 0), (999_999, 0), (1e6, 1), (9.9e6, 1), (10e6, 2), (25e6, 3),
                                              (49.9e6, 3), (50e6, 4), (400e6, 4), (0, UNKNOWN_BUDGET),
                                              (np.nan, UNKNOWN_BUDGET), (None, UNKNOWN_BUDGET)])
def test_budget_classes_follow_the_documented_edges(budget, expected):
    assert budget_class(budget) == expected


def test_top_genres_counts_films_and_breaks_ties_by_name():
    lists = [["Drama"], ["Drama", "Comedy"], ["Comedy"], ["Horror"], ["Action"]]
    assert top_genres(lists, n=3) == ("Comedy", "Drama", "Action")


def test_genre_matrix_drops_genres_outside_the_label_set():
    matrix = genre_matrix([["Drama", "Western"], []], ("Comedy", "Drama"))
    assert matrix.tolist() == [[0.0, 1.0], [0.0, 0.0]]


@pytest.mark.parametrize("budget", [UNKNOWN_BUDGET, *range(len(BUDGET_CLASSES))])
def test_file_name_round_trip(budget):
    bits = [1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    name = encode_name(bits, budget, 42, ".png")
    genres, decoded_budget, index = decode_name(name)
    assert genres.tolist() == bits and decoded_budget == budget and index == 42 and name.endswith(".png")


def test_file_names_without_separators_are_read_too():
    genres, budget, index = decode_name("100010000000010123.jpg")
    assert genres.tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 0, 0] and budget == 3 and index == 123


@pytest.mark.parametrize("name, message", [("poster.jpg", "does not carry labels"),
                                           ("1000100000_01010_0001.jpg", "2 budget bits are set")])
def test_bad_file_names_are_named_in_the_error(name, message):
    with pytest.raises(LabelFolderError, match=message) as error:
        decode_name(name)
    assert name in str(error.value)


def test_export_then_import_keeps_every_label_and_film(labelled, tmp_path):
    posters = labelled.posters.head(12)
    genres = DEFAULT_GENRES
    folder = export_folder(posters, genres, tmp_path / "bits")
    images, read_genres, warnings = import_folder(folder)
    assert read_genres == genres and warnings == []
    assert len(images) == 12 and images["film"].tolist() == posters["film"].tolist()
    assert images["budget_class"].tolist() == posters["budget_class"].tolist()
    expected = [[g for g in genres if g in film_genres] for film_genres in posters["genres"]]
    assert images["genres"].tolist() == expected
    assert json.loads((folder / "labels.json").read_text())["budget_classes"] == list(BUDGET_CLASSES)


def test_a_folder_without_sidecars_warns_that_films_are_unknown(labelled, tmp_path):
    folder = export_folder(labelled.posters.head(3), DEFAULT_GENRES, tmp_path / "bits")
    (folder / "films.csv").unlink()
    (folder / "labels.json").unlink()
    images, genres, warnings = import_folder(folder)
    assert genres == DEFAULT_GENRES and len(warnings) == 2
    assert "both sides of a split" in warnings[1]
    assert images["film"].nunique() == 3


def test_duplicate_indices_and_empty_folders_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LabelFolderError, match="no images"):
        import_folder(tmp_path / "empty")
    folder = tmp_path / "dup"
    folder.mkdir()
    for name in ("1000000000_10000_0001.jpg", "0100000000_01000_1.jpg"):
        (folder / name).write_bytes(b"x")
    with pytest.raises(LabelFolderError, match="index 1 is used by more than one file"):
        import_folder(folder)
