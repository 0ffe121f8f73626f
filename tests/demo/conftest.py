"""A materialized storage folder (panel, catalog, two tiny models) and the demo (its page and JSON API, one
server) served from it on 127.0.0.1."""

import shutil
import socket
from pathlib import Path

import pandas as pd
import pytest

from cineseq_assets.forecast.onnx_export import export_onnx
from cineseq_assets.forecast.store import model_dir, model_folder, save_model
from cineseq_assets.frames.classifier import classifier_dir
from cineseq_assets.storage import asset_path, write_parquet_atomic

SHOWCASE_FILMS = 3  # the first films of the test panel are flagged showcase, so they lead the list


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_storage(root: Path, panel: pd.DataFrame, models: dict, serving: str, finals: dict | None = None) -> Path:
    """What `cineseq run` leaves behind, for the demo: the panel, the film catalog and the trained models."""
    write_parquet_atomic(panel, asset_path("panel", root=root))
    films = panel.groupby("film_id", sort=False).agg(title=("title", "first")).reset_index()
    films["showcase"] = films.index < SHOWCASE_FILMS
    write_parquet_atomic(films, asset_path("film_catalog", root=root))
    for architecture, (trained, _) in models.items():
        best = min(trained.history, key=lambda h: h["validation_wape"])
        weights = save_model(trained, model_dir(root) / f"{architecture}.parquet",
                             {"validation_wape": best["validation_wape"], "best_epoch": best["epoch"],
                              "epochs": len(trained.history), "seconds": trained.seconds},
                             (finals or {}).get(architecture))
        export_onnx(trained, weights.with_suffix(".onnx"))
    if serving in models:  # a storage without models has nothing to publish
        model_folder(root).publish(serving, chosen_by="test")
    return root


@pytest.fixture
def serve_demo():
    """Start the demo on a free 127.0.0.1 port for one test: ``serve_demo(storage) -> url``."""
    from demo.app import launch

    apps = []

    def serve(storage: Path) -> str:
        port = free_port()
        apps.append(launch("127.0.0.1", port, storage=storage, block=False, quiet=True))
        return f"http://127.0.0.1:{port}/"

    yield serve
    for app in apps:
        app.close()


@pytest.fixture
def fresh_storage(tmp_path, forecast_panel, tiny_models):
    """``fresh_storage(serving, models=all) -> storage folder`` for tests that change what is materialized."""
    def make(serving: str = "seq2seq_attention", models: dict | None = None) -> Path:
        return write_storage(tmp_path / "storage", forecast_panel, tiny_models if models is None else models, serving)

    return make


@pytest.fixture(scope="session")
def demo_storage(tmp_path_factory, forecast_panel, tiny_models, tiny_final_totals, frame_storage) -> Path:
    """The forecasters (with their final-total models) and a frame classifier, as `cineseq run` leaves them."""
    root = write_storage(tmp_path_factory.mktemp("demo_storage"), forecast_panel, tiny_models, "seq2seq_attention",
                         tiny_final_totals)
    shutil.copytree(classifier_dir(frame_storage), classifier_dir(root))
    return root


@pytest.fixture(scope="session")
def demo_url(demo_storage):
    from demo.app import launch

    port = free_port()
    app = launch("127.0.0.1", port, storage=demo_storage, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="session")
def client(demo_url):
    from gradio_client import Client

    return Client(demo_url, verbose=False)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def long_film(forecast_panel) -> pd.DataFrame:
    """The rows, by week, of the first film of the test panel with at least 8 weeks of run."""
    runs = forecast_panel.groupby("film_id")["week"].max()
    film_id = runs[runs >= 8].index[0]
    return forecast_panel[forecast_panel["film_id"] == film_id].sort_values("week", ignore_index=True)
