"""Pure geometry and area logic for Expro (shapely 2 / geopandas): no database, no HTTP."""
