"""OGC API – Features under /ogc, over a real uvicorn server on real PostGIS, and read by GDAL's ogrinfo/ogr2ogr."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from supervision.accounts import upsert_user
from supervision.package.service import import_package
from tests.api.conftest import PASSWORD
from tests.common import HOUSEHOLDS, PROJECT_TOML, X0, Y0, write_package

COLLECTIONS = ["parcels", "buildings", "footprints", "alerts"]
TABLES = {"parcels": "parcel", "buildings": "building", "footprints": "footprint"}


def bearer(server, username: str) -> dict[str, str]:
    res = httpx.post(f"{server.url}/auth/token", data={"username": username, "password": PASSWORD})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


@pytest.fixture
def ogc(live_server, project, conn, tmp_path):
    """The canonical project T-001, a copy of it as T-002, a GIS officer, and three alerts on T-001 (a prompt on a
    building of household 1, an internal alarm on parcel JC00003, a prompt on household 2's head by ID number)."""
    import_package(conn, write_package(tmp_path / "pkg2", project_toml=PROJECT_TOML.replace('"T-001"', '"T-002"')))
    upsert_user(conn, username="G001", name="孙丽", role="gis_officer", password=PASSWORD)
    pid = project.project_id
    head_id, head_name = HOUSEHOLDS[1][1], HOUSEHOLDS[1][2]
    conn.execute(text("""
        INSERT INTO alert (project_id, rule_code, severity, subject_type, subject_key, message, evidence) VALUES
          (:p, 'AREA_INFLATED', 'prompt', 'building', '210112101201JC00001/1', '面积虚增 40 ㎡', '{}'),
          (:p, 'OUTSIDE_SCOPE', 'internal', 'parcel', '210112101201JC00003', '宗地在征收范围外', '{}'),
          (:p, 'DECEASED', 'prompt', 'person', :hid, :msg, jsonb_build_object('id_number', :hid, 'name', :hn))"""),
                 {"p": pid, "hid": head_id, "hn": head_name, "msg": f"{head_name}（{head_id}）已死亡仍领款"})
    return live_server


def get(server, path: str, headers: dict | None = None, **params):
    return httpx.get(path if path.startswith("http") else f"{server.url}{path}", headers=headers,
                     params=params or None, timeout=30)


def ids_in_db(conn, table: str, project_code: str | None = None, where: str = "true", **params) -> set[int]:
    return set(conn.execute(text(f"""
        SELECT t.id FROM {table} t JOIN project p ON p.id = t.project_id
        WHERE (CAST(:code AS text) IS NULL OR p.code = :code) AND {where}"""),
        {"code": project_code, **params}).scalars())


def walk(server, headers, url: str) -> tuple[list[dict], list[str]]:
    """Every feature reached by following ``next`` links from ``url``, and the URLs requested."""
    features, urls = [], []
    while url:
        urls.append(url)
        res = get(server, url, headers)
        assert res.status_code == 200, res.text
        assert res.headers["content-type"].startswith("application/geo+json")
        page = res.json()
        assert page["numberReturned"] == len(page["features"])
        features += page["features"]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        assert len(urls) < 100
    return features, urls


def test_landing_page_conformance_and_collections(ogc, conn):
    inspector = bearer(ogc, "S003")
    landing = get(ogc, "/ogc", inspector)
    assert landing.status_code == 200 and landing.headers["content-type"].startswith("application/json")
    rels = {link["rel"]: link["href"] for link in landing.json()["links"]}
    assert set(rels) >= {"self", "service-desc", "conformance", "data"}
    assert get(ogc, rels["service-desc"], inspector).json()["paths"]["/ogc/collections/{collection_id}/items"]
    conformance = get(ogc, rels["conformance"], inspector).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance
    listing = get(ogc, rels["data"], inspector, project="T-001").json()
    assert [c["id"] for c in listing["collections"]] == COLLECTIONS
    for info in listing["collections"]:
        assert info["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
        assert all("project=T-001" in link["href"] for link in info["links"])
        assert {link["rel"]: link["type"] for link in info["links"]}["items"] == "application/geo+json"
    # each extent is PostGIS's CRS84 extent of the collection in the project (within a centimetre or so)
    for cid, table in TABLES.items():
        bbox = get(ogc, f"/ogc/collections/{cid}", inspector, project="T-001").json()["extent"]["spatial"]["bbox"][0]
        truth = conn.execute(text(f"""SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
            SELECT ST_Extent(ST_Transform(t.geom, 4326)) e FROM {table} t JOIN project p ON p.id = t.project_id
            WHERE p.code = 'T-001') x""")).one()
        assert bbox == pytest.approx(list(truth), abs=2e-7), cid
    # a GIS officer handles parcels and imagery, not alerts: the policy hides the collection
    gis = bearer(ogc, "G001")
    assert [c["id"] for c in get(ogc, "/ogc/collections", gis).json()["collections"]] == COLLECTIONS[:3]
    assert get(ogc, "/ogc/collections/alerts/items", gis).status_code == 403
    assert get(ogc, "/ogc/collections/nothing", inspector).status_code == 404
    assert get(ogc, "/ogc/collections", inspector, project="NOPE").status_code == 404


def test_items_are_crs84_geojson_with_the_project_filter(ogc, conn):
    inspector = bearer(ogc, "S003")
    res = get(ogc, "/ogc/collections/parcels/items", inspector, project="T-001")
    assert res.status_code == 200 and res.headers["content-type"].startswith("application/geo+json")
    page = res.json()
    assert page["type"] == "FeatureCollection" and page["numberMatched"] == page["numberReturned"] == 4
    assert {f["id"] for f in page["features"]} == ids_in_db(conn, "parcel", "T-001")
    first = page["features"][0]
    assert first["geometry"]["type"] == "MultiPolygon"
    lon, lat = first["geometry"]["coordinates"][0][0][0]
    assert 123.5 < lon < 123.6 and 41.7 < lat < 41.71            # CRS84: longitude first, in degrees
    truth = json.loads(conn.execute(text("SELECT ST_AsGeoJSON(ST_Transform(geom, 4326), 7) FROM parcel WHERE id = :i"),
                                    {"i": first["id"]}).scalar_one())
    assert first["geometry"]["coordinates"] == truth["coordinates"]
    assert first["properties"]["project"] == "T-001" and first["properties"]["head_name"] == "王建国"
    # without the filter: both projects; one feature by its id
    assert get(ogc, "/ogc/collections/parcels/items", inspector).json()["numberMatched"] == 8
    one = get(ogc, f"/ogc/collections/parcels/items/{first['id']}", inspector)
    assert one.status_code == 200 and one.headers["content-type"].startswith("application/geo+json")
    assert one.json()["geometry"] == first["geometry"] and one.json()["properties"] == first["properties"]
    other = max(ids_in_db(conn, "parcel", "T-002"))
    assert get(ogc, f"/ogc/collections/parcels/items/{other}", inspector, project="T-001").status_code == 404
    for bad in ["0", "abc", "99999999999", "1" * 30]:
        assert get(ogc, f"/ogc/collections/parcels/items/{bad}", inspector).status_code == 404
    buildings = get(ogc, "/ogc/collections/buildings/items", inspector, project="T-001").json()
    assert buildings["numberMatched"] == 4
    assert {f["properties"]["claimed_floor_area_m2"] for f in buildings["features"]} == {160.0, 20.0, 80.0}
    footprints = get(ogc, "/ogc/collections/footprints/items", inspector, project="T-001").json()
    assert sorted(f["properties"]["phase"] for f in footprints["features"]) == ["after"] + ["baseline"] * 4
    alerts = get(ogc, "/ogc/collections/alerts/items", inspector, project="T-001").json()
    assert alerts["numberMatched"] == 3 and all(f["geometry"]["type"] == "Point" for f in alerts["features"])
    deceased = next(f for f in alerts["features"] if f["properties"]["rule_code"] == "DECEASED")
    assert HOUSEHOLDS[1][1] in deceased["properties"]["subject_key"]      # inspectors see ID numbers


@pytest.mark.parametrize("collection,table,limit", [("parcels", "parcel", 1), ("footprints", "footprint", 3),
                                                     ("buildings", "building", 2)])
def test_next_links_page_through_every_feature_once(ogc, conn, collection, table, limit):
    inspector = bearer(ogc, "S003")
    start = f"{ogc.url}/ogc/collections/{collection}/items?limit={limit}&bbox=120,40,125,43&project=T-001"
    features, urls = walk(ogc, inspector, start)
    seen = [f["id"] for f in features]
    assert len(seen) == len(set(seen)) and set(seen) == ids_in_db(conn, table, "T-001")
    assert len(urls) == -(-len(seen) // limit)
    for url in urls[1:]:                      # the next links keep the other parameters and the project
        query = parse_qs(urlsplit(url).query)
        assert query["project"] == ["T-001"] and query["bbox"] == ["120,40,125,43"] and query["limit"] == [str(limit)]
    everything, _ = walk(ogc, inspector, f"{ogc.url}/ogc/collections/{collection}/items?limit={limit}")
    assert {f["id"] for f in everything} == ids_in_db(conn, table)        # both projects
    beyond = get(ogc, f"/ogc/collections/{collection}/items", inspector, offset=1000).json()
    assert beyond["features"] == [] and beyond["numberMatched"] == len(everything)


def test_bbox_selects_what_postgis_selects(ogc, conn):
    inspector = bearer(ogc, "S003")
    corner = lambda x, y: conn.execute(text(  # noqa: E731 - a point of the canonical layout in CRS84
        "SELECT ST_X(g), ST_Y(g) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4550), 4326) g"),
        {"x": x, "y": y}).one()
    (x0, y0), (x1, y1) = corner(X0 + 10, Y0 + 10), corner(X0 + 30, Y0 + 20)   # over JC00001 and JC00002
    bbox = f"{x0},{y0},{x1},{y1}"
    for cid, table in TABLES.items():
        expected = ids_in_db(conn, table, "T-001", "ST_Intersects(ST_Transform(t.geom, 4326), "
                             "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))", x0=x0, y0=y0, x1=x1, y1=y1)
        page = get(ogc, f"/ogc/collections/{cid}/items", inspector, bbox=bbox, project="T-001").json()
        assert {f["id"] for f in page["features"]} == expected and page["numberMatched"] == len(expected), cid
    parcels = get(ogc, "/ogc/collections/parcels/items", inspector, bbox=bbox, project="T-001").json()
    assert sorted(f["properties"]["parcel_code"] for f in parcels["features"]) == [
        "210112101201JC00001", "210112101201JC00002"]
    # the whole world (far outside the project's CRS) and a box elsewhere
    assert get(ogc, "/ogc/collections/parcels/items", inspector, bbox="-180,-90,180,90").json()["numberMatched"] == 8
    assert get(ogc, "/ogc/collections/parcels/items", inspector, bbox="-74.1,40.6,-73.9,40.8").json()[
        "numberMatched"] == 0
    six = get(ogc, "/ogc/collections/parcels/items", inspector, bbox=f"{x0},{y0},0,{x1},{y1},100",
              project="T-001").json()
    assert {f["id"] for f in six["features"]} == {f["id"] for f in parcels["features"]}
    alerts = get(ogc, "/ogc/collections/alerts/items", inspector, bbox=bbox, project="T-001").json()
    assert [f["properties"]["subject_key"] for f in alerts["features"]] == ["210112101201JC00001/1"]


@pytest.mark.parametrize("params,word", [
    ({"bbox": "1,2,3"}, "4"), ({"bbox": "a,b,c,d"}, "numbers"), ({"bbox": "0,0,200,10"}, "longitude"),
    ({"bbox": "10,5,11,1"}, "miny"), ({"bbox": "170,0,-170,1"}, "antimeridian"), ({"bbox": "nan,1,2,3"}, "finite"),
    ({"bbox": ""}, "4"), ({"limit": "0"}, "limit"), ({"limit": "abc"}, "limit"), ({"limit": "-3"}, "limit"),
    ({"limit": "1.5"}, "limit"), ({"offset": "-1"}, "offset"), ({"offset": "9" * 25}, "offset")])
def test_bad_bbox_limit_or_offset_is_400_with_the_reason(ogc, params, word):
    res = get(ogc, "/ogc/collections/parcels/items", bearer(ogc, "S003"), **params)
    assert res.status_code == 400, res.text
    assert word in res.json()["detail"] and " / " in res.json()["detail"]


def test_limit_above_the_maximum_is_served_as_the_maximum(ogc):
    page = get(ogc, "/ogc/collections/parcels/items", bearer(ogc, "S003"), limit=50000).json()
    assert page["numberReturned"] == 8
    assert "limit=10000" in next(link["href"] for link in page["links"] if link["rel"] == "self")


def test_every_route_needs_sign_in(ogc, conn):
    some = min(ids_in_db(conn, "parcel"))
    for path in ["/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/collections/parcels",
                 "/ogc/collections/parcels/items", f"/ogc/collections/parcels/items/{some}"]:
        res = get(ogc, path)
        assert res.status_code == 401 and res.headers["www-authenticate"] == "Bearer", path
        assert get(ogc, path, {"Authorization": "Bearer not-a-token"}).status_code == 401


def test_field_crew_sees_only_the_assigned_households(ogc, conn):
    """S001 keeps households 1 and 2 of T-001 (household 3's assignment removed); S009 has none."""
    conn.execute(text("""DELETE FROM assignment s USING household h, project p WHERE h.id = s.household_id
                         AND p.id = h.project_id AND (h.household_no = :h3 OR p.code = 'T-002')"""),
                 {"h3": HOUSEHOLDS[2][0]})
    conn.execute(text("""UPDATE case_stage s SET assignee_user_id = NULL FROM case_file cf, project p
                         WHERE cf.id = s.case_id AND p.id = cf.project_id
                           AND (cf.household_no = :h3 OR p.code = 'T-002')"""), {"h3": HOUSEHOLDS[2][0]})
    crew = bearer(ogc, "S001")
    visible_hh = (HOUSEHOLDS[0][0], HOUSEHOLDS[1][0])
    parcels = get(ogc, "/ogc/collections/parcels/items", crew).json()
    assert {f["id"] for f in parcels["features"]} == ids_in_db(
        conn, "parcel", "T-001", "t.household_no = ANY(:h)", h=list(visible_hh))
    assert parcels["numberMatched"] == 3
    assert {f["properties"]["head_name"] for f in parcels["features"]} == {"王**", "李**"}     # masked
    buildings = get(ogc, "/ogc/collections/buildings/items", crew).json()
    assert {f["properties"]["parcel_code"] for f in buildings["features"]} == {
        "210112101201JC00001", "210112101201JC00002"}
    footprints = get(ogc, "/ogc/collections/footprints/items", crew).json()
    assert footprints["numberMatched"] == 3                           # those on the parcels of households 1 and 2
    alerts = get(ogc, "/ogc/collections/alerts/items", crew).json()   # the prompts on their households only
    assert sorted(f["properties"]["rule_code"] for f in alerts["features"]) == ["AREA_INFLATED", "DECEASED"]
    deceased = next(f["properties"] for f in alerts["features"] if f["properties"]["rule_code"] == "DECEASED")
    assert HOUSEHOLDS[1][1] not in json.dumps(deceased, ensure_ascii=False)     # ID number masked
    assert HOUSEHOLDS[1][2] not in deceased["message"] and "evidence" not in deceased
    hidden = min(ids_in_db(conn, "parcel", "T-001", "t.household_no = :h", h=HOUSEHOLDS[2][0]))
    assert get(ogc, f"/ogc/collections/parcels/items/{hidden}", crew).status_code == 404
    # the extents are those of what they see
    bbox = get(ogc, "/ogc/collections/parcels", crew).json()["extent"]["spatial"]["bbox"][0]
    jc3 = conn.execute(text("SELECT ST_XMin(e) FROM (SELECT ST_Extent(ST_Transform(geom, 4326)) e FROM parcel "
                            "WHERE household_no = :h) x"), {"h": HOUSEHOLDS[2][0]}).scalar_one()
    assert bbox[2] < jc3
    nobody = bearer(ogc, "S009")
    for cid in COLLECTIONS:
        page = get(ogc, f"/ogc/collections/{cid}/items", nobody).json()
        assert page["numberMatched"] == 0 and page["features"] == [], cid
    assert get(ogc, "/ogc/collections/parcels", nobody).json().get("extent") is None


# --- GDAL ------------------------------------------------------------------------------------------------

def gdal(*args: str, headers: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a GDAL command line tool with the bearer token passed as an HTTP header."""
    tool = shutil.which(args[0])
    assert tool, f"{args[0]} is missing: apt-get install gdal-bin (scripts/bootstrap.sh installs it)"
    header = f"Authorization: {headers['Authorization']}"
    res = subprocess.run([tool, *args[1:], "--config", "GDAL_HTTP_HEADERS", header, "--debug", "on"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def test_ogrinfo_lists_the_parcels_layer(ogc, conn):
    """The Done-when test: ``ogrinfo -so OAPIF:http://127.0.0.1:PORT/ogc parcels`` with the token as a header."""
    res = gdal("ogrinfo", "-so", f"OAPIF:{ogc.url}/ogc", "parcels", headers=bearer(ogc, "S003"))
    print(res.stdout)
    assert "Layer name: parcels" in res.stdout and "Geometry: Multi Polygon" in res.stdout
    assert f"Feature Count: {len(ids_in_db(conn, 'parcel'))}" in res.stdout
    assert 'ID["EPSG",4326]' in res.stdout and "head_name: String" in res.stdout
    found = re.search(r"Extent: \(([-\d.]+), ([-\d.]+)\) - \(([-\d.]+), ([-\d.]+)\)", res.stdout)
    assert found, res.stdout
    truth = conn.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                              "(SELECT ST_Extent(ST_Transform(geom, 4326)) e FROM parcel) x")).one()
    assert [float(v) for v in found.groups()] == pytest.approx(list(truth), abs=1e-6)
    every = gdal("ogrinfo", "-so", f"OAPIF:{ogc.url}/ogc", headers=bearer(ogc, "S003")).stdout
    for n, cid in enumerate(COLLECTIONS, 1):
        assert f"{n}: {cid}" in every


def test_ogr2ogr_reads_every_feature_through_the_pages(ogc, conn, tmp_path):
    out = tmp_path / "buildings.geojson"
    res = gdal("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{ogc.url}/ogc/collections/buildings?project=T-001",
               "-oo", "PAGE_SIZE=1", headers=bearer(ogc, "S003"))
    pages = re.findall(r"Fetch\((\S*/items\S*)\)", res.stderr)
    assert len(pages) >= 4 and all("project=T-001" in p for p in pages), res.stderr
    got = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(f["properties"]["parcel_code"] + "/" + f["properties"]["building_no"] for f in got["features"]) \
        == sorted(conn.execute(text("SELECT b.parcel_code || '/' || b.building_no FROM building b "
                                    "JOIN project p ON p.id = b.project_id WHERE p.code = 'T-001'")).scalars())
    crew = gdal("ogrinfo", "-so", f"OAPIF:{ogc.url}/ogc", "parcels", "-oo", "PAGE_SIZE=2",
                headers=bearer(ogc, "S009"))
    assert "Feature Count: 0" in crew.stdout
