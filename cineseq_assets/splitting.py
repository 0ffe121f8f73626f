"""Groups (films, face sources) to train / validation / test by fraction: deterministic, optionally stratified.

A split is drawn over groups, never over rows, so every row of a group (every window of a film, every
face of a video) lands on the same side and nothing held out was seen in training. Each stratum is
cut on its own, so every split spans the strata (years, release widths, collections).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping

import numpy as np

# How a stratum's ordered groups are cut into the held-out splits:
COUNT = "count"  # each held-out split takes round(n * fraction) groups (Python's round: half to even)
# group r of n sits at (r + 0.5) / n and goes to the first split whose cumulative fraction passes it;
# a stratum of one group stays in training. Kinder to small strata: of 2 groups at 15% + 15%, one is held out.
POSITION = "position"


def assign_groups(strata: Mapping[str, Hashable], held_out: Mapping[str, float], *, seed: int | None = None,
                  cut: str = COUNT, rest: str = "train") -> dict[str, str]:
    """Group id -> split name, for every group of ``strata`` (group id -> its stratum; one stratum: any constant).

    ``held_out``: split name -> fraction, in cut order: ``{"test": 0.15, "validation": 0.15}`` gives
    each stratum's first groups to test, the next to validation, and the rest to ``rest``.

    The order within a stratum: with ``seed``, a permutation of the groups in their given order, drawn
    from one ``np.random.default_rng(seed)`` stratum by stratum in sorted stratum order; without, the
    order of the sha1 of the group id, which depends neither on the input order nor on the other groups.
    """
    if cut not in (COUNT, POSITION):
        raise ValueError(f"unknown cut {cut!r}: use {COUNT!r} or {POSITION!r}")
    by_stratum: dict[Hashable, list[str]] = {}
    for group, stratum in strata.items():
        by_stratum.setdefault(stratum, []).append(group)
    rng = np.random.default_rng(seed) if seed is not None else None
    assignment = {}
    for stratum in sorted(by_stratum):
        groups = by_stratum[stratum]
        ordered = (list(np.asarray(groups, dtype=object)[rng.permutation(len(groups))]) if rng is not None
                   else sorted(groups, key=lambda g: hashlib.sha1(str(g).encode()).hexdigest()))
        for group, name in zip(ordered, _names(len(ordered), held_out, cut, rest)):
            assignment[group] = name
    return assignment


def _names(n: int, held_out: Mapping[str, float], cut: str, rest: str) -> list[str]:
    """The split of each of a stratum's n ordered groups."""
    names: list[str] = []
    if cut == COUNT:
        for name, fraction in held_out.items():
            names += [name] * round(n * fraction)
        return (names + [rest] * n)[:n]
    for rank in range(n):
        position, boundary = ((rank + 0.5) / n if n > 1 else 1.0), 0.0
        for name, fraction in held_out.items():
            boundary += fraction
            if position < boundary:
                names.append(name)
                break
        else:
            names.append(rest)
    return names
