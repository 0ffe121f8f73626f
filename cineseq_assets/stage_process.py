"""One stage's run in a process of its own: how ``cineseq run`` runs the stages marked side_by_side at
the same time (runner.py), each on the threads its parent gave it (OMP_NUM_THREADS, CINESEQ_TORCH_THREADS).

    python -m cineseq_assets.stage_process JOB ASSET [ASSET ...]

Exits 0 when the run succeeded, 1 when it failed (its events and log say why). Why processes, not threads:
Dagster reconfigures Python's logging for the whole process when a run starts (logging.config.dictConfig),
closing the handlers of any run already going; two runs started from threads of one process deadlocked on it.
On 2 cores the student and the frame classifier, one thread each side by side, took 135 s together against
170 s one after the other at two threads each, and 350 s side by side at two threads each (the thread
pools then spin against each other).
"""

from __future__ import annotations

import sys
import warnings


def main(argv: list[str]) -> int:
    # before the imports: importing the definitions warns that backfill_policy is in beta, once per asset
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    from .processes import available_threads, threads_limited
    from .runner import launch_side_by_side_run

    job_name, *assets = argv
    # torch's and OpenCV's pools do not read OMP_NUM_THREADS, the share the parent gave this process
    with threads_limited(available_threads()):
        return 0 if launch_side_by_side_run(job_name, assets) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
