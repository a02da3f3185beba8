"""Synthetic village geometry: homestead rows along lanes, farmland strips, buildings, scope.

Everything is laid out per village in a local frame (``u`` east, ``v`` north, metres, the village's
top-left corner at (0, 0), the village below it at negative ``v``) as axis-aligned boxes
``(u0, v0, u1, v1)``; each village is then rotated by a small angle about its centre and placed on
a grid in EPSG:4550. Coverage fractions, distances and shifts are therefore exact in the local frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

CRS = "EPSG:4550"
#: The district centre: village land south-east of Shenyang, Hunnan district (lon 123.55 E, lat 41.72 N).
CENTRE_LONLAT = (123.55, 41.72)
SCOPE_MARGIN_M = 30.0
GAP_X_M, GAP_Y_M = 140.0, 90.0      # between village cells (room for strips pushed out of the scope)
MAX_ROTATION_DEG = 2.5
NS_LANE_M = 6.0                     # north-south lane along the west side of the homestead rows
FIELD_ROAD_M = 6.0
PARCEL_W_M, PARCEL_D_M = (20.0, 25.0), (28.0, 35.0)
LANE_W_M = (4.0, 6.0)
STRIP_W_M, STRIP_L_M = (15.0, 25.0), (150.0, 220.0)


@dataclass
class Layout:
    """Villages, parcels, buildings, lanes and trees in local boxes, with the local-to-EPSG:4550 placement."""

    villages: pd.DataFrame     # width_m, height_m, angle_rad, centre_x, centre_y, grid_row, grid_col
    parcels: pd.DataFrame      # village, land_class, hh (-1), serial, u0..v1, band, band_end
    buildings: pd.DataFrame    # hh, parcel, building_no, structure_type, storeys, u0..v1
    facilities: pd.DataFrame   # unclaimed buildings of collective/enterprise parcels: village, parcel, storeys, u0..
    lanes: pd.DataFrame        # village, u0..v1
    trees: pd.DataFrame        # village, u, v

    def to_world(self, village: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """EPSG:4550 coordinates of local points of the given villages."""
        vi = self.villages
        w, h = vi["width_m"].to_numpy()[village], vi["height_m"].to_numpy()[village]
        a = vi["angle_rad"].to_numpy()[village]
        du, dv = np.asarray(u) - w / 2, np.asarray(v) + h / 2
        cos, sin = np.cos(a), np.sin(a)
        return (vi["centre_x"].to_numpy()[village] + cos * du - sin * dv,
                vi["centre_y"].to_numpy()[village] + sin * du + cos * dv)

    def polygons(self, village: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """EPSG:4550 polygons of local boxes (n, 4) of the given villages."""
        boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
        if len(boxes) == 0:
            return np.empty(0, dtype=object)
        u = boxes[:, [0, 2, 2, 0, 0]]
        v = boxes[:, [1, 1, 3, 3, 1]]
        x, y = self.to_world(np.repeat(np.asarray(village), 5).reshape(-1, 5), u, v)
        return shapely.polygons(np.stack([x, y], axis=-1))

    def scope(self) -> shapely.MultiPolygon:
        """The expropriation scope: every village cell with a margin, as one multipolygon."""
        vi = self.villages
        boxes = np.column_stack([np.full(len(vi), -SCOPE_MARGIN_M), -vi["height_m"] - SCOPE_MARGIN_M,
                                 vi["width_m"] + SCOPE_MARGIN_M, np.full(len(vi), SCOPE_MARGIN_M)])
        merged = shapely.union_all(self.polygons(np.arange(len(vi)), boxes))
        parts = shapely.get_parts(merged)
        return shapely.MultiPolygon(list(parts))


def _serials(village: np.ndarray) -> np.ndarray:
    """1, 2, 3, ... within each village (``village`` sorted)."""
    return np.arange(len(village)) - np.searchsorted(village, village) + 1


def _shed_structures(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """Structures of sheds: mostly simple, some steel."""
    return np.where(rng.random(int(mask.sum())) < 0.7, "simple", "steel")


def _village(rng: np.random.Generator, n_hh: int) -> dict[str, Any]:
    """Local layout of one village of ``n_hh`` households."""
    n_strips_hh = np.where(rng.random(n_hh) < 0.6, rng.integers(1, 3, n_hh), 0)
    n_strips = int(n_strips_hh.sum())
    est_area = n_hh * 22.5 * 37.0 + n_strips * 20.0 * 191.0
    w_target = math.sqrt(est_area * 1.05)
    k = int(np.clip(round((w_target - NS_LANE_M) / 22.5), 6, 40))
    n_rows = -(-n_hh // k)

    # Homestead rows: a lane on the north side of each row, parcels side by side eastwards.
    width = rng.uniform(*PARCEL_W_M, n_hh)
    row = np.arange(n_hh) // k
    cs = np.cumsum(width)
    row_first = np.arange(n_rows) * k
    u0 = NS_LANE_M + cs - width - (cs[row_first] - width[row_first])[row]
    depth_r, lane_r = rng.uniform(*PARCEL_D_M, n_rows), rng.uniform(*LANE_W_M, n_rows)
    top_r = -np.concatenate([[0.0], np.cumsum(depth_r + lane_r)])
    pv1 = top_r[:-1][row] - lane_r[row]
    pv0 = pv1 - depth_r[row]
    home = np.column_stack([u0, pv0, u0 + width, pv1])
    row_end = np.zeros(n_rows)
    np.maximum.at(row_end, row, u0 + width)

    # A village committee plot and a workshop or two at the east end of some rows.
    n_fac = min(n_rows, int(rng.integers(1, 4)))
    fac_rows = np.sort(rng.choice(n_rows, n_fac, replace=False))
    fac_w = rng.uniform(30, 50, n_fac)
    fac = np.column_stack([row_end[fac_rows], top_r[fac_rows + 1], row_end[fac_rows] + fac_w,
                           top_r[fac_rows] - lane_r[fac_rows]])
    fac_class = np.where(np.arange(n_fac) == 0, "collective_construction", "enterprise").astype(object)
    row_end[fac_rows] += fac_w
    w_home = float(row_end.max())
    width_m = max(w_home, w_target)
    south_lane = rng.uniform(*LANE_W_M)
    home_bottom = top_r[-1] - south_lane
    lanes = [np.array([[0.0, home_bottom, NS_LANE_M, 0.0]]),
             np.column_stack([np.full(n_rows, NS_LANE_M), top_r[:-1] - lane_r, row_end, top_r[:-1]]),
             np.array([[0.0, home_bottom, w_home, top_r[-1]]])]

    # Farmland: strips (north-south) side by side in bands below the homesteads, field roads between.
    strip_hh = np.repeat(np.arange(n_hh), n_strips_hh)[rng.permutation(n_strips)]
    sw = rng.uniform(*STRIP_W_M, n_strips)
    strips = np.zeros((n_strips, 4))
    band = np.zeros(n_strips, dtype=np.int64)
    top = home_bottom - FIELD_ROAD_M - 2.0
    lanes.append(np.array([[0.0, top, width_m, home_bottom - 2.0]]))
    length = rng.uniform(*STRIP_L_M)
    u, b = 0.0, 0
    for i in range(n_strips):
        if u + sw[i] > width_m and u > 0:
            lanes.append(np.array([[0.0, top - length - FIELD_ROAD_M, width_m, top - length]]))
            top, length, u, b = top - length - FIELD_ROAD_M, rng.uniform(*STRIP_L_M), 0.0, b + 1
        strips[i] = (u, top - length, u + sw[i], top)
        band[i] = b
        u += sw[i]
    bottom = top - length if n_strips else home_bottom
    end = np.full(n_strips, "", dtype=object)
    if n_strips:
        first = np.r_[True, band[1:] != band[:-1]]
        last = np.r_[band[1:] != band[:-1], True]
        end[first] = "west"
        end[last] = "east"

    # Buildings: a main house in the north of the yard, 0-2 sheds along the west/east sides of the yard.
    hw, hd = rng.uniform(10, 14, n_hh), rng.uniform(7, 9, n_hh)
    hu0 = home[:, 0] + (width - hw) / 2 + rng.uniform(-1, 1, n_hh)
    hv1 = home[:, 3] - rng.uniform(2.5, 4.0, n_hh)
    main = np.column_stack([hu0, hv1 - hd, hu0 + hw, hv1])
    n_out = rng.choice(3, n_hh, p=[0.3, 0.45, 0.25])
    ow, od = rng.uniform(3, 6, (n_hh, 2)), rng.uniform(4, 8, (n_hh, 2))
    ov0 = home[:, 1:2] + rng.uniform(1.5, 3.0, (n_hh, 2))
    west = np.column_stack([home[:, 0] + rng.uniform(0.8, 1.5, n_hh), ov0[:, 0]])
    east_u1 = home[:, 2] - rng.uniform(0.8, 1.5, n_hh)
    out1 = np.column_stack([west[:, 0], west[:, 1], west[:, 0] + ow[:, 0], west[:, 1] + od[:, 0]])
    out2 = np.column_stack([east_u1 - ow[:, 1], ov0[:, 1], east_u1, ov0[:, 1] + od[:, 1]])

    # Trees in the middle of the yards, between the sheds.
    n_tree = rng.integers(0, 4, n_hh)
    t_hh = np.repeat(np.arange(n_hh), n_tree)
    tu = home[t_hh, 0] + 8.5 + rng.random(len(t_hh)) * (width[t_hh] - 17.0)
    tv = home[t_hh, 1] + 2.5 + rng.random(len(t_hh)) * 9.0
    return {"n_hh": n_hh, "home": home, "main": main, "n_out": n_out, "out1": out1, "out2": out2, "fac": fac,
            "fac_class": fac_class, "strips": strips, "strip_hh": strip_hh, "band": band, "band_end": end,
            "lanes": np.concatenate(lanes), "trees": np.column_stack([tu, tv]), "width_m": width_m,
            "height_m": -bottom, "older_house": rng.random(n_hh)}


def build_layout(rng: np.random.Generator, village_sizes: np.ndarray) -> Layout:
    """Lay out every village and place them on a grid around the district centre."""
    sizes = np.asarray(village_sizes, dtype=np.int64)
    nv = len(sizes)
    parts = [_village(rng, int(n)) for n in sizes]
    hh_offset = np.concatenate([[0], np.cumsum(sizes)])

    ncols = nv if nv <= 3 else math.ceil(math.sqrt(nv))
    grid_row, grid_col = np.arange(nv) // ncols, np.arange(nv) % ncols
    width = np.array([p["width_m"] for p in parts])
    height = np.array([p["height_m"] for p in parts])
    col_w = np.zeros(ncols)
    np.maximum.at(col_w, grid_col, width)
    row_h = np.zeros(grid_row.max() + 1)
    np.maximum.at(row_h, grid_row, height)
    col_x = np.concatenate([[0.0], np.cumsum(col_w + GAP_X_M)])
    row_y = np.concatenate([[0.0], np.cumsum(row_h + GAP_Y_M)])
    total_w, total_h = col_x[-1] - GAP_X_M, row_y[-1] - GAP_Y_M
    cx0, cy0 = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(*CENTRE_LONLAT)
    left, top = round(cx0 - total_w / 2), round(cy0 + total_h / 2)
    villages = pd.DataFrame({
        "width_m": width, "height_m": height,
        "angle_rad": np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, nv)),
        "centre_x": left + col_x[grid_col] + width / 2, "centre_y": top - row_y[grid_row] - height / 2,
        "grid_row": grid_row, "grid_col": grid_col, "n_households": sizes,
    })

    def cat(key: str) -> np.ndarray:
        return np.concatenate([p[key] for p in parts])

    def vrep(key: str) -> np.ndarray:
        return np.repeat(np.arange(nv), [len(p[key]) for p in parts])

    # Parcels: homesteads (in household order), facilities, farmland strips.
    n_hh = int(sizes.sum())
    home_v, fac_v, strip_v = vrep("home"), vrep("fac"), vrep("strips")
    strip_hh = np.concatenate([p["strip_hh"] + hh_offset[i] for i, p in enumerate(parts)])
    frames = [
        pd.DataFrame({"village": home_v, "land_class": "homestead", "hh": np.arange(n_hh),
                      "serial": _serials(home_v), "band": -1, "band_end": ""}),
        pd.DataFrame({"village": fac_v, "land_class": cat("fac_class"), "hh": -1,
                      "serial": _serials(fac_v), "band": -1, "band_end": ""}),
        pd.DataFrame({"village": strip_v, "land_class": "farmland", "hh": strip_hh,
                      "serial": _serials(strip_v), "band": cat("band"), "band_end": cat("band_end")}),
    ]
    boxes = np.concatenate([cat("home"), cat("fac"), cat("strips")])
    parcels = pd.concat(frames, ignore_index=True)
    parcels[["u0", "v0", "u1", "v1"]] = boxes

    # Buildings: main house "1", sheds "2" (west) and "3" (east), numbered in order.
    hh_all = np.arange(n_hh)
    n_out = cat("n_out")
    older = cat("older_house")
    storeys_main = np.where(older < 0.25, 2, 1)
    main_struct = np.where(older < 0.6, "brick_concrete", "brick_wood")
    has1, has2 = n_out >= 1, n_out >= 2
    bld = pd.concat([
        pd.DataFrame({"hh": hh_all, "building_no": "1", "structure_type": main_struct, "storeys": storeys_main}),
        pd.DataFrame({"hh": hh_all[has1], "building_no": "2", "structure_type": _shed_structures(rng, has1), "storeys": 1}),
        pd.DataFrame({"hh": hh_all[has2], "building_no": "3", "structure_type": _shed_structures(rng, has2), "storeys": 1}),
    ], ignore_index=True)
    bld[["u0", "v0", "u1", "v1"]] = np.concatenate([cat("main"), cat("out1")[has1], cat("out2")[has2]])
    bld = bld.sort_values(["hh", "building_no"], kind="stable").reset_index(drop=True)
    bld.insert(1, "parcel", bld["hh"].to_numpy())   # homestead parcels come first, in household order
    bld["village"] = home_v[bld["hh"].to_numpy()]

    fac_boxes = cat("fac")
    inset = rng.uniform(3, 6, (len(fac_boxes), 4)) * np.array([1, 1, -1, -1])
    facilities = pd.DataFrame({"village": fac_v, "parcel": n_hh + np.arange(len(fac_v)),
                               "storeys": rng.integers(1, 3, len(fac_v))})
    facilities[["u0", "v0", "u1", "v1"]] = fac_boxes + inset
    lanes = pd.DataFrame({"village": vrep("lanes")})
    lanes[["u0", "v0", "u1", "v1"]] = cat("lanes")
    trees = pd.DataFrame({"village": vrep("trees")})
    trees[["u", "v"]] = cat("trees")
    return Layout(villages=villages, parcels=parcels, buildings=bld, facilities=facilities, lanes=lanes,
                  trees=trees)
