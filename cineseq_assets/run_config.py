"""Run configuration: a ``dg.Config`` carries only what a run may override, and builds the stage's
domain dataclass from it, so each setting and its default is declared once, in the dataclass."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import ClassVar, TypeVar

import dagster as dg

T = TypeVar("T")


class RunConfig(dg.Config):
    """Every field defaults to None, meaning "the dataclass default". ``RUN_INPUTS`` names the fields
    that are not settings of a dataclass (where the data are, how much of it to use) with their reason."""

    RUN_INPUTS: ClassVar[dict[str, str]] = {}

    def overrides(self) -> dict:
        """The settings this run sets (run inputs left out)."""
        return {name: value for name, value in self.model_dump(exclude_unset=True).items() if name not in self.RUN_INPUTS}

    def build(self, default: T, **fixed) -> T:
        """``default`` with this run's overrides of its fields, and ``fixed``."""
        names = {f.name for f in fields(default)}
        values = {name: _like(getattr(default, name), value) for name, value in self.overrides().items() if name in names}
        return replace(default, **(values | fixed))


def _like(default, value):
    """Dagster gives lists where the dataclass holds tuples."""
    return tuple(value) if isinstance(default, tuple) and isinstance(value, list) else value
