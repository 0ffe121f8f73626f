"""Train and score the single-frame genre and budget classifiers, and print the tables.

    python benchmarks/frames.py [--shared DIR] [--no-finetune] [--seeds 0] [--quiet]

Trains the three models of frames.experiment (small CNN from scratch; MobileNetV2 frozen with a
dual head; the same with its last blocks fine-tuned) on the poster films of the training split,
and prints, for the held-out poster films, for the 620 trailer frames of 10 films (a different
domain, never trained on) and for those 10 films with their frames' probabilities averaged:
genre micro/macro F1, mean average precision, mean AUC; budget accuracy, balanced accuracy,
macro F1, log loss and mean class error; next to the trivial baselines. Then
training time per model, and inference speed in images per second (batch 64, and one image at a
time), median of 3 runs on the threads torch is given (2 on the reference machine). With several
seeds, each metric is the mean ± standard deviation over seeds (the split stays the same).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("CINESEQ_SHARED", ROOT.parent / "shared")))
    parser.add_argument("--no-finetune", action="store_true", help="skip the fine-tuned transfer model")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch log")
    return parser.parse_args()


def images_per_second(net, pixels, batch_size: int, runs: int = 3) -> float:
    from cineseq_assets.frames.train import predict_pixels

    predict_pixels(net, pixels[:batch_size], batch_size)  # warm-up
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        predict_pixels(net, pixels, batch_size)
        rates.append(len(pixels) / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> int:
    args = _arguments()
    import numpy as np
    import pandas as pd

    from cineseq_assets.frames.dataset import load_labelled_images, read_pixels
    from cineseq_assets.frames.experiment import ExperimentConfig, confusion_frame, evaluation_table, run_experiment

    data = load_labelled_images(args.shared)
    print(f"budget join: {data.budget_report}\n")
    log = (lambda message: None) if args.quiet else (lambda message: print(message, flush=True))
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        base = ExperimentConfig()
        config = replace(base, scratch=replace(base.scratch, seed=seed), transfer=replace(base.transfer, seed=seed),
                         finetune=None if args.no_finetune else replace(base.finetune, seed=seed))
        results.append(run_experiment(data, config, log=log))
    first = results[0]
    print(f"\ngenres (top 10 of the training films): {', '.join(first.genres)}")
    print("films per split:", first.splits["split"].value_counts().to_dict())
    from cineseq_assets.frames.experiment import TEST_SETS

    for test_set in TEST_SETS:
        tables = [evaluation_table(r.evaluation, test_set).set_index("model") for r in results]
        mean = sum(tables) / len(tables)
        shown = mean.round(3).astype(str)
        if len(tables) > 1:
            std = pd.concat(tables).groupby(level=0).std().reindex(mean.index)
            shown = mean.round(3).astype(str) + " ± " + std.round(3).astype(str)
        print(f"\n## {test_set} (mean over {len(results)} seed(s))\n")
        print(shown.T.to_markdown())
        for result in results[:1]:
            key = f"{result.serving}/{test_set}"
            print(f"\nbudget confusion of the serving model ({result.serving}), rows = true class:\n")
            print(confusion_frame(result.confusion[key]).to_markdown())
    print("\n## per-genre AUC, first seed\n")
    per_genre = first.per_genre[~first.per_genre["model"].str.startswith("baseline_")]
    print(per_genre.pivot_table(index="genre", columns=["test_set", "model"], values="auc").round(3).to_markdown())
    print("\n## training and inference\n")
    sample = data.posters["path"].head(256).tolist()
    rows = []
    for name, model in first.models.items():
        pixels = read_pixels(sample, model.config.image_size)
        rows.append({"model": name, "image px": model.config.image_size,
                     "train s (mean over seeds)": np.mean([r.models[name].train_seconds for r in results]),
                     "epochs run": len(model.history), "best epoch": model.best_epoch,
                     "images/s batch 64": images_per_second(model.net, pixels, 64),
                     "images/s one at a time": images_per_second(model.net, pixels[:32], 1)})
    print(pd.DataFrame(rows).round(1).to_markdown(index=False))
    print(f"\nserving (lowest validation loss): {[r.serving for r in results]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
