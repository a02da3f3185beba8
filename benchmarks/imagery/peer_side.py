"""The zonal-statistics peers, run with the benchmark's own environment (benchmarks/out/titiler-venv).

    peer_side.py rasterstats|exactextract TIF BUILDINGS.geojson OUT.npz

Per-building mean and count of band 1, the same polygons and raster as Expro's side; prints one
JSON line (wall time of the computation only, polygons already in memory; peak RSS).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def vmhwm_mb() -> float:
    """Peak resident set of this process (VmHWM; ru_maxrss would include the parent's peak)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM:"))


def main() -> None:
    """Run one peer and print its figures."""
    which, tif, vectors, out = sys.argv[1:5]
    features = json.loads(Path(vectors).read_text())["features"]
    t0 = time.perf_counter()
    if which == "rasterstats":
        from rasterstats import zonal_stats

        stats = zonal_stats([f["geometry"] for f in features], tif, band=1, stats=["mean", "count"])
        mean = np.array([np.nan if s["mean"] is None else s["mean"] for s in stats], float)
        count = np.array([s["count"] for s in stats], float)
    elif which == "exactextract":
        import rasterio
        from exactextract import exact_extract
        from exactextract.feature import JSONFeatureSource
        from exactextract.raster import RasterioRasterSource

        with rasterio.open(tif) as ds:
            rast = RasterioRasterSource(ds, band_idx=1)
            stats = exact_extract(rast, JSONFeatureSource(features, srs_wkt=ds.crs.to_wkt()), ["mean", "count"],
                                  output="geojson")
        mean = np.array([f["properties"]["mean"] for f in stats], float)
        count = np.array([f["properties"]["count"] for f in stats], float)
    else:
        raise SystemExit(f"unknown peer {which!r}")
    seconds = time.perf_counter() - t0
    np.savez(out, mean=mean, count=count)
    import importlib.metadata as md

    print(json.dumps({"buildings": len(features), "seconds": seconds, "buildings_per_s": len(features) / seconds,
                      "version": md.version(which),
                      "vmhwm_mb": vmhwm_mb()}))


if __name__ == "__main__":
    main()
