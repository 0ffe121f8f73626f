"""Asset checks beside the forecast assets: the trained forecasters are sound (finite weights, and
on a probe batch of validation windows, quantiles of the right shape with p10 <= p50 <= p90)."""

import dagster as dg

from ..model_checks import non_finite_weights, quantile_problems
from ..resources import ArtifactStore
from ..weights import read_weights
from .prepared import load_windows
from .store import load_model, model_folder

PROBE_WINDOWS = 64


@dg.asset_check(asset=dg.AssetKey("forecast_model"),
                description="Every stored forecaster has finite weights and, on a probe batch of validation windows, "
                            "quantiles of shape [windows, horizon, 3] with p10 <= p50 <= p90.")
def forecast_model_sanity(artifacts: ArtifactStore) -> dg.AssetCheckResult:
    folder = model_folder(artifacts.root)
    models = [folder.file(name) for name in folder.names()]
    probe = load_windows(artifacts.folder("training_windows"), "validation")
    probe = probe.subset(slice(0, PROBE_WINDOWS))
    problems = []
    for path in models:
        problems += [f"{path.name}: {p}" for p in non_finite_weights(read_weights(path)[0])]
        trained, _ = load_model(path)
        quantiles, _ = trained.predict(probe.with_prior(trained.pooled, trained.train_config.prior))
        problems += [f"{path.name}: {p}" for p in quantile_problems(quantiles, len(probe), trained.model_config.horizon)]
    return dg.AssetCheckResult(passed=bool(models) and not problems,
                               description="; ".join(problems) if problems else (None if models else "no stored model"),
                               metadata={"models": dg.MetadataValue.json([p.stem for p in models]),
                                         "probe_windows": len(probe), "problems": len(problems)})


CHECKS = [forecast_model_sanity]
