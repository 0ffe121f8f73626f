"""Asset checks beside the trailer assets: the distilled emotion student (deployed or kept as a
candidate) is sound: finite weights, and [faces, emotions] probabilities summing to 1 on probe faces."""

import dagster as dg

from ..model_checks import non_finite_weights, probability_problems, probe_images
from ..resources import ArtifactStore
from ..weights import read_weights
from .emotions import EmotionModel, read_contract, student_folder


@dg.asset_check(asset=dg.AssetKey("trailer_emotion_student"),
                description="Every stored student has finite weights, and its ONNX export gives [faces, emotions] "
                            "probabilities summing to 1 for probe face crops.")
def trailer_emotion_student_sanity(artifacts: ArtifactStore) -> dg.AssetCheckResult:
    folder = student_folder(artifacts.root).path
    weights, exports = sorted(folder.glob("*_weights.parquet")), sorted(folder.glob("*.onnx"))
    problems = [f"{path.name}: {p}" for path in weights for p in non_finite_weights(read_weights(path)[0])]
    faces = probe_images(height=64, width=64)
    for path in exports:
        model = EmotionModel(path, read_contract(path), path.stem, threads=1)
        problems += [f"{path.name}: {p}" for p in probability_problems(model.predict(faces), len(faces), len(model.labels),
                                                                       "emotion probabilities")]
    return dg.AssetCheckResult(passed=bool(exports) and not problems,
                               description="; ".join(problems) if problems else (None if exports else "no stored student"),
                               metadata={"models": dg.MetadataValue.json([p.name for p in [*weights, *exports]]),
                                         "problems": len(problems)})


CHECKS = [trailer_emotion_student_sanity]
