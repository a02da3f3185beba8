"""The peer tile server: titiler.core's COG tiler, nothing else (served by uvicorn from the peer environment).

Tiles: ``/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url=/path/to/cog.tif&bidx=1&bidx=2&bidx=3``.
"""

from __future__ import annotations

from fastapi import FastAPI
from titiler.core.errors import DEFAULT_STATUS_CODES, add_exception_handlers
from titiler.core.factory import TilerFactory

app = FastAPI(title="titiler peer", docs_url=None, redoc_url=None)
app.include_router(TilerFactory().router, prefix="/cog")
add_exception_handlers(app, DEFAULT_STATUS_CODES)
