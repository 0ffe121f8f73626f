"""Fixtures shared by the whole suite: the shared data folder, an isolated storage and Dagster home,
a small real panel, tiny trained forecasters and a briefly trained frame classifier."""

import importlib.util
import io
import os
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cineseq_assets.boxoffice.bundled import bundled_trends, load_bundled
from cineseq_assets.boxoffice.features import MarketCalendar
from cineseq_assets.boxoffice.panel import film_panel, pooled_panel
from cineseq_assets.forecast.final_total import final_totals, fit_final_total
from cineseq_assets.forecast.train import TrainConfig, fit_forecaster, prepare
from cineseq_assets.frames.classifier import classifier_folder
from cineseq_assets.frames.classifier import save_model as save_frame_model
from cineseq_assets.frames.dataset import load_labelled_images
from cineseq_assets.frames.experiment import quick_config, run_experiment
from cineseq_assets.storage import Storage

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CINESEQ_SHARED", REPO.parent / "shared"))
# Third-party model files are read from the shared folder, never downloaded.
os.environ.setdefault("CINESEQ_MODEL_DIR", str(SHARED / "models"))
# Per-film work runs in the test process unless a test gives a cluster (tests/test_dask_engine.py starts
# a real one): a LocalCluster per materialization would multiply the suite's time on two cores.
os.environ.setdefault("CINESEQ_DASK_WORKERS", "0")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    assert SHARED.is_dir(), f"{SHARED} is missing: the tests need the shared data folder beside the checkout (or CINESEQ_SHARED)."
    return SHARED


@pytest.fixture(scope="session")
def media(shared_dir) -> Path:
    """The real clips and photos of the shared folder (see its SOURCE.md)."""
    return shared_dir / "media"


@pytest.fixture
def isolated_project(tmp_path, monkeypatch):
    """Empty storage and Dagster home for one test (nothing of the user's project is touched).

    ``$CINESEQ_STORAGE`` (tmp/storage) is the user-facing default, read by command-line processes;
    tests running Dagster in this process configure the storage root instead (``defs``, ``stored``)."""
    storage, home = tmp_path / "storage", tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("CINESEQ_STORAGE", str(storage))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return tmp_path


@pytest.fixture
def instance(isolated_project):
    with dg.instance_for_test(temp_dir=str(isolated_project / "dagster_home")) as test_instance:
        yield test_instance


@pytest.fixture
def storage_root(isolated_project) -> Path:
    """The storage root the test's Definitions are configured with: not $CINESEQ_STORAGE, so that
    anything read or written through the environment instead of the resources lands elsewhere."""
    return isolated_project / "configured_storage"


@pytest.fixture
def stored(storage_root) -> Storage:
    """The files under ``storage_root``, as the IO manager and the artifact store lay them out."""
    return Storage(storage_root)


@pytest.fixture
def defs(storage_root) -> dg.Definitions:
    """The code location with its IO manager and artifact store rooted at ``storage_root``."""
    from cineseq_assets.definitions import build_definitions

    return build_definitions(storage_root)


@pytest.fixture
def environment_storage_untouched(isolated_project):
    """Fails the test if anything was written under $CINESEQ_STORAGE (the unconfigured default root)."""
    yield
    leaked = sorted(str(p.relative_to(isolated_project)) for p in (isolated_project / "storage").rglob("*"))
    assert not leaked, f"written through the environment's storage root instead of the configured one: {leaked[:10]}"


# A small real panel and tiny trained forecasters, shared by the forecast and demo tests. The panel is
# built from the bundled dataset (never from storage/, which is empty on a fresh checkout): 80 films,
# wide and limited releases, some with Google Trends buzz. The models are trained for two epochs with
# small layers: enough for realistic weights, a few seconds in all.
ARCHITECTURES = ["seq2seq", "seq2seq_attention"]
WIDE_FILMS, LIMITED_FILMS = 50, 30


@pytest.fixture(scope="session")
def forecast_panel() -> pd.DataFrame:
    """Pooled panel of 80 bundled films, as the panel asset stores it (a Parquet round trip)."""
    data = load_bundled()
    market = MarketCalendar(data.market)
    trends = bundled_trends()
    films = data.films
    wide = films.loc[films["release_width"] == "wide", "film_id"].iloc[::36][:WIDE_FILMS]
    limited = films.loc[films["release_width"] != "wide", "film_id"].iloc[::36][:LIMITED_FILMS]
    frames = [film_panel(data, film_id, market, trends=trends.get(film_id)) for film_id in [*wide, *limited]]
    # The asset is read back from Parquet, which turns missing text into NaN; do the same here.
    return pd.read_parquet(io.BytesIO(pooled_panel(frames).to_parquet(index=False)))


@pytest.fixture(scope="session")
def tiny_models(forecast_panel) -> dict:
    """architecture -> (TrainedModel with its booster and conformal widening, PreparedData)."""
    models = {}
    for architecture in ARCHITECTURES:
        config = TrainConfig(architecture=architecture, epochs=2, hidden=16, static_hidden=8, attention_hidden=8)
        data = prepare(forecast_panel, config)
        models[architecture] = (fit_forecaster(data, config), data)  # as forecast_model: booster blended, band calibrated
    return models


@pytest.fixture(scope="session")
def tiny_final_totals(tiny_models, forecast_panel) -> dict:
    """architecture -> the FinalTotalModel fitted for that tiny model, as forecast_model stores it."""
    totals = final_totals(forecast_panel)
    return {architecture: fit_final_total(trained, forecast_panel, data.split, totals)[0]
            for architecture, (trained, data) in tiny_models.items()}


@pytest.fixture(scope="session")
def save_tiny_model(tiny_models, tiny_final_totals):
    """``save(folder, onnx=False)``: the tiny seq2seq saved as forecast_model saves it (weights and final
    total, and the ONNX export beside them when asked); returns the weights' path."""
    from cineseq_assets.forecast import store

    def save(folder: Path, onnx: bool = False) -> Path:
        trained, _ = tiny_models["seq2seq"]
        path = folder / "seq2seq.parquet"
        store.save_model(trained, path, final_total=tiny_final_totals["seq2seq"])
        if onnx:
            from cineseq_assets.forecast.onnx_export import export_onnx

            export_onnx(trained, path.with_suffix(".onnx"))
        return path

    return save


# A frame classifier trained briefly on real posters (40 films per split, 2 epochs), stored the way
# the frame_classifier asset stores it: shared by the frame, CLI and demo tests.
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
    folder = classifier_folder(storage)
    for name, model in quick_result.models.items():
        save_frame_model(model, folder.file(name))
    folder.publish(quick_result.serving, chosen_by="test fixture")
    return storage


@pytest.fixture(scope="session")
def load_script():
    """Load a script that is not in a package (benchmarks/, examples/) as a module from its file;
    the scripts only define things at import, their work is behind ``main``."""
    def load(path: Path):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
