"""Fixtures of the box-office tests."""

import pandas as pd
import pytest

from cineseq_assets.data.build_dataset import read_bom_daily


@pytest.fixture(scope="session")
def bom_chart(shared_dir) -> pd.DataFrame:
    """The raw Box Office Mojo daily chart the bundled data is built from, read by the build's own reader."""
    return read_bom_daily(shared_dir / "data" / "raw")
