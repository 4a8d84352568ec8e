"""Figures and the little statistics the harness needs (median of repeats, percentiles)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], pct: float) -> float:
    """Percentile (0-100), linearly interpolated between closest ranks (as bench/raw_sql.py does)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * pct / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Figure:
    """One measured quantity: a value per repeat; the median is what is reported."""

    section: str
    name: str
    unit: str
    values: list[float]
    label: str = ""
    note: str = ""

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))

    def to_dict(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "label": self.label or self.name,
            "unit": self.unit,
            "median": self.median,
            "values": self.values,
            "note": self.note,
        }


@dataclass
class Results:
    """Every figure of one engine's run, in the order measured."""

    figures: dict[str, Figure] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def add(
        self, section: str, name: str, unit: str, values: Sequence[float], *, label: str = "", note: str = ""
    ) -> Figure:
        figure = Figure(section, name, unit, [float(v) for v in values], label=label, note=note)
        self.figures[name] = figure
        return figure

    def median(self, name: str) -> float | None:
        figure = self.figures.get(name)
        return figure.median if figure is not None else None


class Series:
    """Collects one value per repeat for several named figures, then adds them to Results."""

    def __init__(self) -> None:
        self._values: dict[str, list[float]] = {}
        self._meta: dict[str, tuple[str, str, str]] = {}

    def add(self, name: str, value: float, unit: str, label: str = "", note: str = "") -> None:
        self._values.setdefault(name, []).append(float(value))
        self._meta[name] = (unit, label, note)

    def flush(self, results: Results, section: str) -> None:
        for name, values in self._values.items():
            unit, label, note = self._meta[name]
            results.add(section, name, unit, values, label=label, note=note)
