"""Build glue for what pyproject.toml cannot say: which packages and data files the wheel carries.

* The migrations stay in ``sql/postgis`` (house style) and ship as the package ``expro.migrations``:
  ``package_dir`` maps it, so an editable install reads the clone and a wheel carries a copy;
  ``packages.find`` in pyproject.toml cannot add a package that does not lie where it is found.
* The map's vendored scripts (``web_map/static/**``) are data of the namespace packages under it,
  every file of them, whatever plugin is added there.
Code finds both through ``importlib.resources`` (``expro.db.migrations_dir``, ``api.app.WEB_STATIC``).
The rest of the configuration is in pyproject.toml.
"""

from setuptools import find_namespace_packages, setup

TOP_LEVEL = ["expro", "gis_core", "imagery", "supervision", "api", "web_map", "mobile_app", "reports"]
MIGRATIONS = {"expro.migrations": "sql/postgis", "expro.migrations.versions": "sql/postgis/versions"}

# namespace discovery, as pyproject's packages.find did
PACKAGES = find_namespace_packages(include=[p for name in TOP_LEVEL for p in (name, f"{name}.*")])
# "" is every package (pyproject.toml spells it "*")
PACKAGE_DATA = {"": ["py.typed", "*.kv", "*.sql", "*.html", "*.ttf", "*.otf", "*.toml", "*.onnx", "*.json"],
                "expro.migrations": ["*.mako"]}
PACKAGE_DATA.update({name: ["*"] for name in PACKAGES if name.startswith("web_map.static")})

setup(packages=PACKAGES + list(MIGRATIONS), package_dir=MIGRATIONS, package_data=PACKAGE_DATA)
