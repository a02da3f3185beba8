"""Peak memory and time of the U-Net extraction on a 2 GiB orthophoto (issue 10: under 1 GB).

    nice -n 15 .venv/bin/python benchmarks/footprints/big.py [--max-tiles N]

The orthophoto is a GDAL VRT of 26,754 × 26,754 RGB pixels (2.0 GiB of pixels, the size of the imagery
benchmark's synthetic orthophoto) declared at 0.15 m, made of copies of the real Kampala drone block side by
side, so no disk is spent on it; it is read window by window like any GeoTIFF. ``--max-tiles`` stops early
(the time is then extrapolated from the tiles done, and said so).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "area_check"))

import rasterio  # noqa: E402

from benchmarks.footprints.evaluate import REAL_DIR  # noqa: E402
from memwatch import peak_rss_mb  # noqa: E402

SIZE = 26_754
RES = 0.15


def mosaic_vrt(path: Path, size: int = SIZE, res: float = RES) -> Path:
    """A VRT of ``size`` × ``size`` px at ``res`` m tiling the Kampala block (EPSG:32636)."""
    src_path = REAL_DIR / "drone_kampala_rgb.tif"
    with rasterio.open(src_path) as src:
        w, h = src.width, src.height
        x0, y1 = src.bounds.left, src.bounds.top
    bands = []
    for b in (1, 2, 3):
        tiles = []
        for r in range(0, size, h):
            for c in range(0, size, w):
                cw, ch = min(w, size - c), min(h, size - r)
                tiles.append(f"""    <SimpleSource><SourceFilename relativeToVRT="0">{src_path}</SourceFilename>
      <SourceBand>{b}</SourceBand><SrcRect xOff="0" yOff="0" xSize="{cw}" ySize="{ch}"/>
      <DstRect xOff="{c}" yOff="{r}" xSize="{cw}" ySize="{ch}"/></SimpleSource>""")
        colour = ("Red", "Green", "Blue")[b - 1]
        bands.append(f"""  <VRTRasterBand dataType="Byte" band="{b}"><ColorInterp>{colour}</ColorInterp>
    <NoDataValue>0</NoDataValue>
{chr(10).join(tiles)}
  </VRTRasterBand>""")
    path.write_text(f"""<VRTDataset rasterXSize="{size}" rasterYSize="{size}">
  <SRS>EPSG:32636</SRS>
  <GeoTransform>{x0}, {res}, 0, {y1}, 0, -{res}</GeoTransform>
{chr(10).join(bands)}
</VRTDataset>
""")
    return path


def main() -> None:
    """Extract footprints over the whole VRT (or ``--max-tiles`` of it); one JSON line."""
    from imagery.cnn import TILE_PX, RoofSegmenter, work_grid

    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tiles", type=int, default=0)
    ap.add_argument("--model", type=Path, help="an ONNX network other than the committed one")
    args = ap.parse_args()
    out = ROOT / "benchmarks" / "out"
    out.mkdir(exist_ok=True)
    vrt = mosaic_vrt(out / "kampala_2gib.vrt")
    grid = work_grid(vrt)
    tiles = len(range(0, grid.height, TILE_PX)) * len(range(0, grid.width, TILE_PX))
    model = RoofSegmenter(args.model)
    t0 = time.perf_counter()
    found = model.extract(vrt, max_tiles=args.max_tiles or None)
    seconds = time.perf_counter() - t0
    done = min(tiles, args.max_tiles) if args.max_tiles else tiles
    print(json.dumps({"pixels": SIZE * SIZE, "gib_of_pixels": SIZE * SIZE * 3 / 2**30, "work_grid": [grid.width,
                      grid.height], "tiles": tiles, "tiles_done": done, "footprints": len(found),
                      "seconds": round(seconds, 1), "seconds_for_all_tiles": round(seconds * tiles / done, 1),
                      "peak_rss_mb": round(peak_rss_mb(), 1)}))


if __name__ == "__main__":
    main()
