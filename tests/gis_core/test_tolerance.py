"""GB/T 17986.1 tolerance presets and overrides."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gis_core.errors import ToleranceError
from gis_core.tolerance import GBT17986_PRESETS, Tolerance


@pytest.mark.parametrize("preset, mse", [
    ("class1", (0.01, 0.0003)), ("class2", (0.02, 0.001)), ("class3", (0.04, 0.003)),
])
def test_presets_are_twice_the_mean_square_error_of_the_standard(preset, mse):
    tol = Tolerance.from_preset(preset)
    assert (tol.a, tol.b) == pytest.approx((2 * mse[0], 2 * mse[1]))
    s = 100.0
    assert float(tol.limit_m2(s)) == pytest.approx(2 * (mse[0] * math.sqrt(s) + mse[1] * s))


def test_chinese_preset_names_and_ordering():
    assert Tolerance.from_preset("三级") == Tolerance.from_preset("class3")
    s = np.array([20.0, 160.0, 1000.0])
    assert (Tolerance.from_preset("class1").limit_m2(s) < Tolerance.from_preset("class2").limit_m2(s)).all()
    assert (Tolerance.from_preset("class2").limit_m2(s) < Tolerance.from_preset("class3").limit_m2(s)).all()
    assert set(GBT17986_PRESETS) == {"class1", "class2", "class3"}


def test_project_override_and_resolution_term():
    tol = Tolerance.from_config({"preset": "class2", "b": 0.01, "resolution_k": 2.0})
    assert (tol.a, tol.b, tol.resolution_k, tol.preset) == (0.04, 0.01, 2.0, None)
    # a 10 x 8 m house measured on 0.15 m imagery: one pixel along its 36 m outline is ~5 m²
    plain = float(tol.limit_m2(80.0))
    with_pixels = float(tol.limit_m2(80.0, perimeter_m=36.0, pixel_size_m=0.15))
    assert with_pixels - plain == pytest.approx(2.0 * 36.0 * 0.15)


@pytest.mark.parametrize("config", [{"preset": "class9"}, {"a": -1}, {"colour": "red"}])
def test_bad_configuration_is_refused(config):
    with pytest.raises(ToleranceError):
        Tolerance.from_config(config)
