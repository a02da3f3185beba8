"""Everything that touches pixels: orthophoto ingest, COG, readers, tiles, footprints, change."""
