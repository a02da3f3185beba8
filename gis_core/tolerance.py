"""Area tolerance of the form a·√S + b·S (GB/T 17986.1-2000), plus a resolution term.

GB/T 17986.1-2000 《房产测量规范 第1单元：房产测量规定》 grades the precision of house
areas in three classes and gives, for an area S in m², the mean-square error (中误差)
and the limit (限差 = twice the mean-square error):

======  =========================  =========================
class   mean-square error m_S      limit (限差) 2·m_S
======  =========================  =========================
一级     0.01·√S + 0.0003·S         0.02·√S + 0.0006·S
二级     0.02·√S + 0.001·S          0.04·√S + 0.002·S
三级     0.04·√S + 0.003·S          0.08·√S + 0.006·S
======  =========================  =========================

The presets below store the limit coefficients. When a measured footprint comes from
imagery, a resolution term ``perimeter_m × pixel_size_m × k`` is added (DOMAIN.md §9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from gis_core.errors import ToleranceError

#: Limit coefficients (a, b) of GB/T 17986.1-2000 for the three precision classes.
GBT17986_PRESETS: dict[str, tuple[float, float]] = {
    "class1": (0.02, 0.0006),
    "class2": (0.04, 0.002),
    "class3": (0.08, 0.006),
}

#: Chinese names accepted in project.toml for the presets.
PRESET_ALIASES: dict[str, str] = {"一级": "class1", "二级": "class2", "三级": "class3"}

DEFAULT_PRESET = "class3"


@dataclass(frozen=True)
class Tolerance:
    """A tolerance function ``a·√S + b·S`` (+ ``k·pixel_size_m·perimeter_m`` on imagery)."""

    a: float
    b: float
    preset: str | None = DEFAULT_PRESET
    resolution_k: float = 1.5

    def __post_init__(self) -> None:
        if not (np.isfinite(self.a) and np.isfinite(self.b)) or self.a < 0 or self.b < 0:
            raise ToleranceError(f"tolerance coefficients must be finite and >= 0: a={self.a}, b={self.b}")
        if not np.isfinite(self.resolution_k) or self.resolution_k < 0:
            raise ToleranceError(f"resolution_k must be finite and >= 0: {self.resolution_k}")

    @classmethod
    def from_preset(cls, name: str = DEFAULT_PRESET, *, resolution_k: float = 1.5) -> "Tolerance":
        """Build a tolerance from a GB/T 17986.1 class name (``class1``..``class3`` or 一级..三级)."""
        key = PRESET_ALIASES.get(name, name)
        if key not in GBT17986_PRESETS:
            known = ", ".join(list(GBT17986_PRESETS) + list(PRESET_ALIASES))
            raise ToleranceError(f"unknown tolerance preset {name!r}; known: {known}")
        a, b = GBT17986_PRESETS[key]
        return cls(a=a, b=b, preset=key, resolution_k=resolution_k)

    @classmethod
    def from_config(cls, config: dict | None) -> "Tolerance":
        """Build from a project.toml ``[tolerance]`` table: ``preset``, and/or ``a``, ``b``, ``resolution_k``."""
        config = dict(config or {})
        unknown = set(config) - {"preset", "a", "b", "resolution_k"}
        if unknown:
            raise ToleranceError(f"unknown keys in [tolerance]: {', '.join(sorted(unknown))}")
        base = cls.from_preset(str(config.get("preset", DEFAULT_PRESET)),
                               resolution_k=float(config.get("resolution_k", 1.5)))
        if "a" in config or "b" in config:
            return cls(a=float(config.get("a", base.a)), b=float(config.get("b", base.b)),
                       preset=None, resolution_k=base.resolution_k)
        return base

    def limit_m2(self, area_m2: ArrayLike, *, perimeter_m: ArrayLike = 0.0,
                 pixel_size_m: ArrayLike = 0.0) -> np.ndarray:
        """Tolerance in m² for areas ``area_m2`` (vectorised); adds the imagery resolution term."""
        s = np.clip(np.asarray(area_m2, dtype="float64"), 0.0, None)
        term = self.a * np.sqrt(s) + self.b * s
        return term + self.resolution_k * np.asarray(perimeter_m, dtype="float64") * np.asarray(
            pixel_size_m, dtype="float64")

    def describe(self) -> dict:
        """The tolerance as evidence: formula, coefficients and preset."""
        return {"formula": "a*sqrt(S) + b*S + k*perimeter_m*storeys*pixel_size_m (pixel term only for imagery footprints)", "a": self.a, "b": self.b,
                "preset": self.preset, "resolution_k": self.resolution_k,
                "standard": "GB/T 17986.1-2000 限差 (2 x 中误差)"}
