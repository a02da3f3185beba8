"""The randomised renderer: styles from ranges, a held-out split that training never draws, truth that fits."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import shapely

from imagery.render import GROUND_KINDS, HELD_OUT, HELD_OUT_SEEDS, TRAIN, draw_style, render_scene


def test_held_out_styles_use_ground_and_seeds_training_never_draws(tmp_path):
    assert not set(GROUND_KINDS[TRAIN]) & set(GROUND_KINDS[HELD_OUT])
    rng = np.random.default_rng(0)
    grounds = {draw_style(rng, TRAIN).ground for _ in range(200)} | \
        {g for _ in range(200) for g in draw_style(rng, TRAIN).ground_mix}
    assert not grounds & set(GROUND_KINDS[HELD_OUT])
    with pytest.raises(ValueError):
        render_scene(tmp_path / "x.tif", seed=3, split=HELD_OUT)
    with pytest.raises(ValueError):
        render_scene(tmp_path / "x.tif", seed=HELD_OUT_SEEDS + 3, split=TRAIN)


def test_scene_is_deterministic_and_its_footprints_lie_on_roofs(tmp_path):
    a = render_scene(tmp_path / "a.tif", seed=7, resolution_m=0.2, extent_m=60)
    b = render_scene(tmp_path / "b.tif", seed=7, resolution_m=0.2, extent_m=60)
    with rasterio.open(a.path) as ra, rasterio.open(b.path) as rb:
        assert np.array_equal(ra.read(), rb.read())
        assert ra.res == pytest.approx((0.2, 0.2)) and ra.crs.to_epsg() == 4550
        bounds = shapely.box(*ra.bounds)
    assert len(a.footprints) > 3 and a.footprints.crs.to_epsg() == 4550
    assert all(bounds.contains(g.centroid) for g in a.footprints.geometry)
    assert not shapely.union_all(a.footprints.geometry).is_empty
    assert a.footprints.geometry.area.min() >= 4.0
