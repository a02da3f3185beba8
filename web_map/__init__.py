"""The inspectors' map and pages (folium), built from data the API hands it."""
