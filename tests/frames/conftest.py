"""A frame classifier trained briefly on real posters (a few films per split, 2 epochs), stored the
way the frame_classifier asset stores it: shared by the classifier, CLI and prediction tests."""

import pytest

from cineseq_assets.frames.classifier import classifier_dir, save_model, write_serving
from cineseq_assets.frames.dataset import load_labelled_images
from cineseq_assets.frames.experiment import quick_config, run_experiment


@pytest.fixture(scope="session")
def labelled(shared_dir):
    return load_labelled_images(shared_dir)


@pytest.fixture(scope="session")
def quick_result(labelled):
    return run_experiment(labelled, quick_config(max_films=40, epochs=2), log=lambda message: None)


@pytest.fixture(scope="session")
def frame_storage(quick_result, tmp_path_factory):
    """A storage folder holding the quick models and serving.json, as the asset writes them."""
    storage = tmp_path_factory.mktemp("frame_storage")
    folder = classifier_dir(storage)
    for name, model in quick_result.models.items():
        save_model(model, folder / f"{name}_weights.parquet")
    write_serving(folder, quick_result.serving, "test fixture")
    return storage
