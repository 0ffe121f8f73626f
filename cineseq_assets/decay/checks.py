"""Asset checks beside the decay assets."""

import dagster as dg
import numpy as np
import pandas as pd

from ..io_manager import stored_films
from .assets import decay_diagnostics


def decay_fit_problems(fits: pd.DataFrame) -> pd.DataFrame:
    """Fits whose numbers cannot be right: R² outside [0, 1], or a finite fit with non-finite estimates."""
    fitted = fits[fits["n_weeks"] >= 3]
    bad_r2 = ~fitted["r2"].between(0, 1)
    bad_estimate = ~np.isfinite(fitted["decay_rate"]) | ~np.isfinite(fitted["intercept"])
    return fitted.loc[bad_r2 | bad_estimate, ["film_id", "window", "r2", "decay_rate"]]


@dg.asset_check(asset=decay_diagnostics, additional_ins={"decay_fit": stored_films("decay_fit", every_film=True)},
                description="Every fit has finite estimates and R² in [0, 1]; wide releases decay (median rate < 0).")
def decay_fit_sanity(decay_fit: pd.DataFrame) -> dg.AssetCheckResult:
    problems = decay_fit_problems(decay_fit)
    run = decay_fit[decay_fit["window"] == "run"]
    median_rate = float(run["decay_rate"].median())
    return dg.AssetCheckResult(
        passed=problems.empty and median_rate < 0,
        metadata={"bad_fits": len(problems), "median_decay_rate": median_rate,
                  "sample": dg.MetadataValue.json(problems.head(10).to_dict("records"))},
    )


CHECKS = [decay_fit_sanity]
