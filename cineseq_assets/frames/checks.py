"""Asset checks beside the frame assets: the trained frame classifiers are sound (finite weights;
on probe images, genre probabilities in [0, 1] and budget-class probabilities summing to 1)."""

import dagster as dg

from ..model_checks import non_finite_weights, probability_problems, probe_images
from ..resources import ArtifactStore
from ..weights import read_weights
from .classifier import ASSET, load_serving
from .labels import BUDGET_CLASSES


@dg.asset_check(asset=dg.AssetKey("frame_classifier"),
                description="Every stored frame classifier has finite weights; the serving one gives, for probe images, "
                            "[images, genres] probabilities in [0, 1] and [images, 5] budget probabilities summing to 1.")
def frame_classifier_sanity(artifacts: ArtifactStore) -> dg.AssetCheckResult:
    weights = sorted(artifacts.folder(ASSET).glob("*_weights.parquet"))
    problems = [f"{path.name}: {p}" for path in weights for p in non_finite_weights(read_weights(path)[0])]
    classifier = load_serving(artifacts.root)
    images = probe_images()
    genres, budget = classifier.predict(images)
    problems += probability_problems(genres, len(images), len(classifier.genres), "genre probabilities", sums_to_one=False)
    problems += probability_problems(budget, len(images), len(BUDGET_CLASSES), "budget probabilities")
    return dg.AssetCheckResult(passed=not problems, description="; ".join(problems) or None,
                               metadata={"models": dg.MetadataValue.json([p.stem for p in weights]),
                                         "serving": classifier.name, "problems": len(problems)})


CHECKS = [frame_classifier_sanity]
