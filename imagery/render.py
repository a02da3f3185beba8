"""Randomised drone orthophotos of rural north-east China for training and testing footprint extraction.

Every scene draws a *style* from parameter ranges: roofs (blue and red steel sheet, red and grey tile with a
ridge, flat grey concrete with parapets and solar water heaters, brown felt), sheds, courtyard walls,
greenhouses, ground (soil, grass, crops, gravel, concrete yards, snow, wet ground), roads and vehicles, trees
over roofs, shadows from a random sun, haze, blur, noise, JPEG artefacts, white balance, 0.05-0.3 m pixels.
Styles of the ``HELD_OUT`` split use ground kinds that the ``TRAIN`` split never draws (snow, wet ground) and
seeds from their own range, so figures on them come from looks no model was trained or tuned on.
Greenhouses and walls are not buildings: they are drawn but not in the footprints (the register keeps
greenhouses as attachments, not houses). Unlike ``imagery.synthetic`` (the demo district), nothing here is
tied to a package: a scene is a GeoTIFF and its footprints.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from PIL import Image
from rasterio.features import rasterize
from scipy import ndimage as ndi

TRAIN, HELD_OUT = "train", "held_out"
ROOF_KINDS = ("blue_steel", "red_steel", "red_tile", "grey_tile", "flat_concrete", "brown_felt")
GROUND_KINDS = {TRAIN: ("soil", "grass", "crops", "gravel", "concrete"), HELD_OUT: ("snow", "wet")}
HELD_OUT_SEEDS = 10_000  # held-out scenes use seeds from here on, training scenes below it
CRS = "EPSG:4550"
ORIGIN = (540_000.0, 4_620_000.0)

_ROOF_BASE = {"blue_steel": (60, 110, 170), "red_steel": (170, 60, 50), "red_tile": (165, 80, 60),
              "grey_tile": (105, 108, 112), "flat_concrete": (150, 150, 148), "brown_felt": (105, 80, 62)}
_GROUND_BASE = {"soil": (150, 128, 100), "grass": (95, 125, 65), "crops": (80, 120, 55), "gravel": (150, 148, 140),
                "concrete": (175, 172, 165), "snow": (232, 234, 240), "wet": (92, 80, 66)}


@dataclass(frozen=True)
class Style:
    """One draw of the look of a scene."""

    split: str
    resolution_m: float
    ground: str
    ground_mix: tuple[str, ...]
    roof_weights: dict[str, float]
    colour_jitter: float
    sun_azimuth: float
    sun_elevation: float
    shadow_strength: float
    tree_density: float
    haze: float
    blur_px: float
    noise: float
    jpeg_quality: int
    white_balance: tuple[float, float, float]
    gamma: float
    wall_share: float
    greenhouses: int

    def summary(self) -> str:
        """A short description for tables."""
        roofs = "/".join(k for k, w in sorted(self.roof_weights.items(), key=lambda kv: -kv[1])[:2])
        return (f"{self.ground} ground, {roofs} roofs, sun {self.sun_elevation:.0f}°, haze {self.haze:.2f}, "
                f"blur {self.blur_px:.1f}px, jpeg {self.jpeg_quality}")


def _rgb(values: np.ndarray) -> tuple[float, float, float]:
    """Three floats (red, green, blue) from an array of three."""
    r, g, b = map(float, values)
    return r, g, b


def draw_style(rng: np.random.Generator, split: str = TRAIN, resolution_m: float | None = None) -> Style:
    """A style drawn from the ranges of ``split``."""
    grounds = GROUND_KINDS[split]
    ground = str(rng.choice(grounds))
    mix = tuple(str(g) for g in rng.choice(GROUND_KINDS[TRAIN] if split == TRAIN else grounds + ("soil",),
                                           size=int(rng.integers(1, 3))))
    w = rng.dirichlet(np.full(len(ROOF_KINDS), 0.7))
    return Style(
        split=split, resolution_m=float(resolution_m or rng.uniform(0.05, 0.3)), ground=ground, ground_mix=mix,
        roof_weights=dict(zip(ROOF_KINDS, map(float, w))), colour_jitter=float(rng.uniform(0.05, 0.25)),
        sun_azimuth=float(rng.uniform(0, 360)), sun_elevation=float(rng.uniform(25, 75)),
        shadow_strength=float(rng.uniform(0.35, 0.7)), tree_density=float(rng.uniform(0.0, 1.0)),
        haze=float(rng.uniform(0, 0.3)), blur_px=float(rng.uniform(0, 1.2)), noise=float(rng.uniform(1, 7)),
        jpeg_quality=int(rng.integers(55, 96)), white_balance=_rgb(rng.uniform(0.9, 1.1, 3)),
        gamma=float(rng.uniform(0.8, 1.25)), wall_share=float(rng.uniform(0, 0.9)),
        greenhouses=int(rng.integers(0, 4)))


@dataclass
class Scene:
    """A rendered orthophoto and its building footprints (project CRS)."""

    path: Path
    footprints: gpd.GeoDataFrame
    style: Style
    extent_m: float = field(default=0.0)
    #: tree crowns (some over roof corners) with their height, for a surface model of the scene
    trees: gpd.GeoDataFrame | None = None


def _noise(shape: tuple[int, int], rng: np.random.Generator, cell_px: float) -> np.ndarray:
    """Smooth noise in about [-1, 1] with features of ``cell_px`` pixels."""
    small = (max(2, int(shape[0] / max(cell_px, 1)) + 2), max(2, int(shape[1] / max(cell_px, 1)) + 2))
    z = ndi.zoom(rng.standard_normal(small).astype(np.float32),
                 (shape[0] / small[0] * 1.0001, shape[1] / small[1] * 1.0001), order=3)[:shape[0], :shape[1]]
    return np.clip(z, -2.5, 2.5) / 1.5


def _jitter(rgb: tuple[int, int, int], rng: np.random.Generator, amount: float) -> np.ndarray:
    c = np.asarray(rgb, np.float32) * (1 + rng.normal(0, amount * 0.35, 3)) * rng.uniform(1 - amount, 1 + amount)
    return np.clip(c, 10, 250)


def _layout(rng: np.random.Generator, extent: float) -> tuple[list[dict], list[shapely.Polygon]]:
    """Houses, sheds (buildings) and their courtyards, on a loosely aligned village grid."""
    buildings: list[dict] = []
    yards: list[shapely.Polygon] = []
    taken: list[shapely.Polygon] = []
    theta = rng.uniform(0, 180)
    plot_w, plot_d = rng.uniform(16, 28), rng.uniform(18, 30)
    road_every = int(rng.integers(2, 5))
    c, s = math.cos(math.radians(theta)), math.sin(math.radians(theta))
    centre = extent / 2
    n = int(extent * 1.5 / min(plot_w, plot_d)) + 2
    for i in range(-n // 2, n // 2 + 1):
        for j in range(-n // 2, n // 2 + 1):
            if rng.random() < 0.2:
                continue
            gap = (j // road_every) * 6.0
            u, v = i * plot_w, j * plot_d + gap
            x, y = centre + u * c - v * s, centre + u * s + v * c
            if not (-5 < x < extent + 5 and -5 < y < extent + 5):
                continue
            yard = shapely.affinity.rotate(shapely.box(x - plot_w / 2 + 0.8, y - plot_d / 2 + 0.8,
                                                       x + plot_w / 2 - 0.8, y + plot_d / 2 - 0.8), theta)
            yards.append(yard)
            parts = [("house", rng.uniform(8, min(20, plot_w - 3)), rng.uniform(6, 11), 0.25 * plot_d)]
            for _ in range(int(rng.integers(0, 3))):
                parts.append(("shed", rng.uniform(2.2, 5.5), rng.uniform(2, 4), rng.uniform(-0.4, 0.1) * plot_d))
            for kind, length, depth, off_v in parts:
                off_u = rng.uniform(-1, 1) * max(0.0, (plot_w - length) / 2 - 1)
                bx, by = x + off_u * c - off_v * s, y + off_u * s + off_v * c
                angle = theta + rng.normal(0, 3) + (90 if kind == "shed" and rng.random() < 0.4 else 0)
                poly = shapely.affinity.rotate(shapely.box(bx - length / 2, by - depth / 2, bx + length / 2,
                                                           by + depth / 2), angle)
                if kind == "house" and rng.random() < 0.25:  # an L-shaped house
                    wing = shapely.affinity.rotate(shapely.box(bx + length / 2 - depth * 0.8, by - depth / 2 - 4,
                                                               bx + length / 2, by + depth / 2), angle,
                                                   origin=(bx, by))
                    poly = shapely.union(poly, wing).buffer(0.01, join_style="mitre").buffer(-0.01,
                                                                                              join_style="mitre")
                if any(poly.buffer(0.6).intersects(t) for t in taken):
                    continue
                if not shapely.box(0, 0, extent, extent).contains(poly.centroid):
                    continue
                taken.append(poly)
                buildings.append({"geometry": poly, "kind": kind, "angle": angle,
                                  "height": rng.uniform(3, 6.5) if kind == "house" else rng.uniform(2, 3)})
    return buildings, yards


def render_scene(path: str | Path, *, seed: int, split: str = TRAIN, resolution_m: float | None = None,
                 extent_m: float = 110.0, style: Style | None = None) -> Scene:
    """Render one scene of ``extent_m`` × ``extent_m`` metres to a GeoTIFF at ``path``; returns it with truth."""
    if (split == HELD_OUT) != (seed >= HELD_OUT_SEEDS):
        raise ValueError(f"{split} scenes take seeds {'from' if split == HELD_OUT else 'below'} {HELD_OUT_SEEDS}")
    rng = np.random.default_rng(seed)
    st = style or draw_style(rng, split, resolution_m)
    res = st.resolution_m
    size = int(round(extent_m / res))
    shape = (size, size)
    tr = Affine(res, 0, 0, 0, -res, extent_m)  # scene coordinates (0..extent), north up
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    px_x, px_y = (xx + 0.5) * res, extent_m - (yy + 0.5) * res
    img: np.ndarray = np.empty((3, size, size), np.float32)

    # ground: a base kind mixed with patches of others, at several scales
    img[:] = _jitter(_GROUND_BASE[st.ground], rng, st.colour_jitter)[:, None, None]
    for kind in st.ground_mix:
        patch = _noise(shape, rng, rng.uniform(4, 20) / res) > rng.uniform(0.0, 0.8)
        img[:, patch] = _jitter(_GROUND_BASE[kind], rng, st.colour_jitter)[:, None]
    if "crops" in (st.ground,) + st.ground_mix:  # crop rows in a field band
        period = rng.uniform(0.5, 1.2)
        rows = (np.sin(2 * math.pi * (px_x * 0.7 + px_y * 0.7) / period) > 0.2) & (_noise(shape, rng, 30 / res) > 0.3)
        img[:, rows] *= 0.75
    fine = _noise(shape, rng, rng.uniform(0.2, 0.8) / res)
    img *= 1 + rng.uniform(0.03, 0.12) * fine
    img *= 1 + 0.08 * _noise(shape, rng, 10 / res)
    if st.ground in ("gravel", "wet", "soil"):
        img *= 1 + rng.uniform(0.03, 0.1) * rng.standard_normal(shape, np.float32)
    if st.ground == "wet":  # puddles: dark, bluish, smooth
        puddle = _noise(shape, rng, 6 / res) > 1.0
        img[:, puddle] = np.array([70, 78, 88], np.float32)[:, None] * rng.uniform(0.7, 1.3)

    buildings, yards = _layout(rng, extent_m)
    # roads between plot rows: concrete or asphalt strips
    for _ in range(int(rng.integers(1, 3))):
        ang = rng.uniform(0, 180)
        line = shapely.affinity.rotate(shapely.LineString([(-extent_m, extent_m / 2), (2 * extent_m, extent_m / 2)]),
                                       ang, origin=(extent_m / 2, extent_m / 2))
        line = shapely.affinity.translate(line, *rng.uniform(-extent_m / 3, extent_m / 3, 2))
        road = line.buffer(rng.uniform(2, 4), cap_style="flat")
        road = shapely.difference(road, shapely.union_all([b["geometry"].buffer(1.0) for b in buildings])) \
            if buildings else road
        m = rasterize([road], out_shape=shape, transform=tr) > 0
        col = _jitter((185, 183, 178) if rng.random() < 0.6 else (75, 75, 78), rng, st.colour_jitter)
        img[:, m] = col[:, None] * (1 + 0.04 * fine[m])
    # concrete yards and courtyard walls (not buildings)
    for yard in yards:
        if rng.random() < 0.35:
            m = rasterize([yard.buffer(-1.0)], out_shape=shape, transform=tr) > 0
            img[:, m] = _jitter(_GROUND_BASE["concrete"], rng, st.colour_jitter)[:, None] * (1 + 0.05 * fine[m])
        if rng.random() < st.wall_share:
            wall = yard.exterior.buffer(rng.uniform(0.12, 0.2))
            m = rasterize([wall], out_shape=shape, transform=tr) > 0
            img[:, m] = _jitter((150, 145, 140) if rng.random() < 0.5 else (150, 85, 65), rng, 0.1)[:, None]
    # greenhouses: long, ribbed, whitish translucent plastic (not buildings)
    footprints_shadow: list[tuple[shapely.Polygon, float]] = []
    for _ in range(st.greenhouses):
        cx, cy = rng.uniform(0, extent_m, 2)
        gh = shapely.affinity.rotate(shapely.box(cx - 25, cy - 4, cx + 25, cy + 4), rng.uniform(0, 180))
        if any(gh.intersects(b["geometry"].buffer(1)) for b in buildings):
            continue
        m = rasterize([gh], out_shape=shape, transform=tr) > 0
        rib = 0.85 + 0.15 * (np.sin(2 * math.pi * (px_x + px_y) / 1.0) > 0.7)
        base = _jitter((215, 222, 225), rng, 0.06)
        img[:, m] = img[:, m] * 0.35 + base[:, None] * 0.65 * rib[m]
        footprints_shadow.append((gh, 1.5))

    # roofs
    labels = np.zeros(shape, np.int32)
    if buildings:
        labels = rasterize([(b["geometry"], i + 1) for i, b in enumerate(buildings)], out_shape=shape,
                           transform=tr, dtype="int32")
    kinds = list(st.roof_weights)
    p = np.array([st.roof_weights[k] for k in kinds])
    sun = math.radians(st.sun_azimuth)
    sun_vec = np.array([math.sin(sun), math.cos(sun)])  # towards the sun, x east, y north
    for i, b in enumerate(buildings, 1):
        m = labels == i
        if not m.any():
            continue
        kind = str(rng.choice(kinds, p=p)) if b["kind"] == "house" or rng.random() < 0.5 \
            else str(rng.choice(["blue_steel", "red_steel", "brown_felt", "flat_concrete"]))
        base = _jitter(_ROOF_BASE[kind], rng, st.colour_jitter)
        a = math.radians(b["angle"])
        cx, cy = b["geometry"].centroid.x, b["geometry"].centroid.y
        du, dv = px_x[m] - cx, px_y[m] - cy
        u = du * math.cos(a) + dv * math.sin(a)
        v = -du * math.sin(a) + dv * math.cos(a)
        shade = np.ones_like(u)
        if kind in ("blue_steel", "red_steel", "red_tile", "grey_tile") and rng.random() < 0.85:  # gable roof
            normal_side = np.sign(v)  # the two planes face +-v
            facing = normal_side * (-math.sin(a) * sun_vec[0] + math.cos(a) * sun_vec[1])
            shade = 1 + rng.uniform(0.08, 0.25) * facing
            ridge = np.abs(v) < rng.uniform(0.12, 0.3)
            shade = np.where(ridge, rng.uniform(0.8, 1.2), shade)
        if kind.endswith("steel"):
            shade *= 1 + 0.06 * np.sin(2 * math.pi * u / rng.uniform(0.2, 0.35))
        elif kind.endswith("tile"):
            shade *= 1 + 0.08 * np.sin(2 * math.pi * v / rng.uniform(0.25, 0.4)) \
                * (0.6 + 0.4 * np.sin(2 * math.pi * u / 0.22))
        elif kind == "flat_concrete":
            edge = ndi.binary_erosion(labels == i, iterations=max(1, int(0.25 / res)))
            shade *= np.where(edge[m], 1.0, rng.uniform(1.05, 1.2)) * (1 + 0.08 * _noise(shape, rng, 3 / res)[m])
        else:
            shade *= 1 + 0.1 * _noise(shape, rng, 1.5 / res)[m]
        img[:, m] = base[:, None] * shade * (1 + 0.03 * fine[m])
        if kind in ("flat_concrete", "brown_felt", "grey_tile") and rng.random() < 0.4:  # solar water heaters
            length = min(b["geometry"].length / 6, 4.0)
            sh = shapely.affinity.rotate(shapely.box(cx - length / 2, cy - 0.9, cx + length / 2, cy + 0.9),
                                         b["angle"], origin=(cx, cy))
            sm = (rasterize([sh], out_shape=shape, transform=tr) > 0) & m
            tubes = np.sin(2 * math.pi * (px_x * math.cos(a) + px_y * math.sin(a)) / 0.12) > 0
            img[:, sm] = np.where(tubes[sm], 40, 110)[None, :] * np.array([0.8, 0.9, 1.2])[:, None]
            tank = shapely.affinity.rotate(shapely.box(cx - length / 2, cy + 0.6, cx + length / 2, cy + 0.9),
                                           b["angle"], origin=(cx, cy))
            tm = (rasterize([tank], out_shape=shape, transform=tr) > 0) & m
            img[:, tm] = 225
        footprints_shadow.append((b["geometry"], b["height"]))

    # trees (some over roof corners), then every shadow
    n_trees = int(st.tree_density * extent_m * extent_m / 150)
    trees, tree_heights = [], []
    for _ in range(n_trees):
        if buildings and rng.random() < 0.3:
            corner = shapely.get_coordinates(buildings[int(rng.integers(len(buildings)))]["geometry"])[
                int(rng.integers(4))]
            cx, cy = corner + rng.normal(0, 1.5, 2)
        else:
            cx, cy = rng.uniform(0, extent_m, 2)
        r = rng.uniform(1.2, 3.5)
        trees.append(shapely.Point(cx, cy).buffer(r * rng.uniform(0.8, 1.0), quad_segs=8))
        tree_heights.append(rng.uniform(3, 8))
        footprints_shadow.append((trees[-1], tree_heights[-1]))
    length_per_m = 1 / math.tan(math.radians(st.sun_elevation))
    shadow = np.zeros(shape, bool)
    off = -sun_vec * length_per_m
    polys = []
    for g, h in footprints_shadow:
        moved = shapely.affinity.translate(g, off[0] * h, off[1] * h)
        polys.append(shapely.convex_hull(shapely.union(g, moved)) if g.geom_type == "Polygon" else moved)
    if polys:
        shadow = rasterize(polys, out_shape=shape, transform=tr) > 0
        shadow &= labels == 0
    if trees:
        tm = rasterize(trees, out_shape=shape, transform=tr) > 0
        crown = _noise(shape, rng, 0.6 / res)
        tree_col = _jitter((55, 95, 40), rng, 0.15)
        img[:, tm] = tree_col[:, None] * (0.8 + 0.25 * crown[tm])
        shadow &= ~tm
    img[:, shadow] *= 1 - st.shadow_strength
    snow_shadow = st.ground == "snow"
    if snow_shadow:  # shadows on snow are blue
        img[2, shadow] *= 1.15

    # vehicles (small bright or dark boxes on roads and yards)
    for _ in range(int(rng.integers(0, 8))):
        cx, cy = rng.uniform(0, extent_m, 2)
        car = shapely.affinity.rotate(shapely.box(cx - 2.2, cy - 0.9, cx + 2.2, cy + 0.9), rng.uniform(0, 180))
        m = (rasterize([car], out_shape=shape, transform=tr) > 0) & (labels == 0)
        img[:, m] = _jitter((200, 200, 205) if rng.random() < 0.5 else (40, 40, 45), rng, 0.3)[:, None]

    # camera: white balance, gamma, haze, blur, noise, JPEG
    img *= np.asarray(st.white_balance, np.float32)[:, None, None]
    img = 255 * (np.clip(img, 0, 255) / 255) ** st.gamma
    haze = _jitter((205, 208, 215), rng, 0.05)
    img = img * (1 - st.haze) + haze[:, None, None] * st.haze
    if st.blur_px > 0.1:
        img = ndi.gaussian_filter(img, (0, st.blur_px, st.blur_px))
    img += rng.normal(0, st.noise, img.shape).astype(np.float32)
    rgb = np.clip(img, 1, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb.transpose(1, 2, 0)).save(buf, format="JPEG", quality=st.jpeg_quality)
    rgb = np.asarray(Image.open(buf)).transpose(2, 0, 1)
    rgb = np.maximum(rgb, 1)

    path = Path(path)
    x0, y0 = ORIGIN[0] + (seed % 100) * 200.0, ORIGIN[1] + (seed // 100 % 100) * 200.0
    transform = Affine(res, 0, x0, 0, -res, y0 + extent_m)
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs=CRS,
                       transform=transform, nodata=0, tiled=True, compress="deflate") as dst:
        dst.write(rgb)
    geoms = [shapely.affinity.translate(b["geometry"], x0, y0) for b in buildings]
    frame = gpd.GeoDataFrame({"kind": [b["kind"] for b in buildings],
                              "storeys": [max(1, round(b["height"] / 3.0)) for b in buildings]},
                             geometry=geoms, crs=CRS)
    crowns = gpd.GeoDataFrame({"height_m": tree_heights},
                              geometry=[shapely.affinity.translate(t, x0, y0) for t in trees], crs=CRS)
    return Scene(path, frame, st, extent_m, crowns)


def truth_mask(scene: Scene, grid_transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """The scene's footprints burnt on a grid (True on buildings)."""
    if scene.footprints.empty:
        return np.zeros(shape, bool)
    return rasterize(scene.footprints.geometry, out_shape=shape, transform=grid_transform) > 0


def render_surface_model(scene: Scene, path: str | Path, *, seed: int, resolution_m: float = 0.3,
                         slope: float | None = None, noise_m: float = 0.15) -> Path:
    """A photogrammetric surface model (float32 GeoTIFF, nodata -9999) of ``scene`` at ``path``: a gently sloping,
    undulating ground with noise, every building raised by its storeys × 3 m (a gable ridge on some), tree crowns
    as domes of their height; covering the scene's orthophoto."""
    rng = np.random.default_rng(seed + 7_000_000)
    with rasterio.open(scene.path) as src:
        left, bottom, right, top = src.bounds
    size_x, size_y = int(round((right - left) / resolution_m)), int(round((top - bottom) / resolution_m))
    transform = Affine(resolution_m, 0, left, 0, -resolution_m, top)
    yy, xx = np.mgrid[0:size_y, 0:size_x].astype(np.float32) * resolution_m
    grade = rng.uniform(0.01, 0.05) if slope is None else slope
    theta = rng.uniform(0, 2 * math.pi)
    ground = 40.0 + grade * (xx * math.cos(theta) + yy * math.sin(theta))
    ground += 0.6 * _noise((size_y, size_x), rng, 25 / resolution_m)             # undulation over tens of metres
    surface = ground.copy()
    for geom, storeys in zip(scene.footprints.geometry, scene.footprints["storeys"]):
        m = rasterize([geom], out_shape=surface.shape, transform=transform) > 0
        if not m.any():
            continue
        base = float(np.median(ground[m]))
        rise = storeys * 3.0
        if rng.random() < 0.5:                      # a gable: up to 1.5 m above the eaves along the long axis
            rect = shapely.minimum_rotated_rectangle(geom)
            c = shapely.get_coordinates(rect)[:3]
            long_axis = c[1] - c[0] if np.hypot(*(c[1] - c[0])) >= np.hypot(*(c[2] - c[1])) else c[2] - c[1]
            across = np.array([-long_axis[1], long_axis[0]]) / max(np.hypot(*long_axis), 1e-9)
            cx, cy = geom.centroid.x - left, top - geom.centroid.y
            d = np.abs((xx[m] - cx) * across[0] - (yy[m] - cy) * across[1])
            half = max(float(d.max()), 1e-3)
            surface[m] = base + rise + 1.5 * (1 - d / half)
        else:
            surface[m] = base + rise
    if scene.trees is not None:
        for geom, height in zip(scene.trees.geometry, scene.trees["height_m"]):
            m = rasterize([geom], out_shape=surface.shape, transform=transform) > 0
            if not m.any():
                continue
            c = geom.centroid
            r = math.sqrt(geom.area / math.pi)
            d = np.hypot(xx[m] - (c.x - left), yy[m] - (top - c.y)) / max(r, 1e-3)
            crown = ground[m] + height * np.sqrt(np.clip(1 - d * d, 0.05, 1))
            surface[m] = np.maximum(surface[m], crown + 0.3 * rng.standard_normal(int(m.sum())))
    surface += noise_m * rng.standard_normal(surface.shape).astype(np.float32)
    path = Path(path)
    with rasterio.open(path, "w", driver="GTiff", width=size_x, height=size_y, count=1, dtype="float32", crs=CRS,
                       transform=transform, nodata=-9999.0, tiled=True, compress="deflate") as dst:
        dst.write(surface.astype(np.float32), 1)
    return path
