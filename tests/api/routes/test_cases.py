"""The field API against real PostGIS: every gate of DATA_FORMATS §5 and issue 11."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from supervision.accounts import upsert_user
from tests.api.conftest import PASSWORD, token
from tests.api.routes.case_files import FAR_AWAY, capture, fill_stage, jpeg_with_exif, mp4, pdf, png
from tests.common import HOUSEHOLDS

HH1, HH2, HH3 = (h[0] for h in HOUSEHOLDS)
BASE = "/projects/T-001/cases"


@pytest.fixture
def staff(conn, project):
    """Two supervisors with passwords besides the package's crew (S001 is S002's crew member)."""
    upsert_user(conn, username="S002", name="周强", role="supervisor", password=PASSWORD)
    upsert_user(conn, username="S012", name="冯涛", role="supervisor", password=PASSWORD)
    upsert_user(conn, username="A01", name="管理员", role="admin", password=PASSWORD)
    return project


def _case(client, headers, hh=HH1):
    res = client.get(f"{BASE}/{hh}", headers=headers)
    assert res.status_code == 200, res.text
    return res.json()


def _stage(case: dict, code: str) -> dict:
    return next(s for s in case["stages"] if s["code"] == code)


def _approve(client, reviewer, hh, stage, opinion="同意"):
    res = client.post(f"{BASE}/{hh}/stages/{stage}/review", headers=reviewer,
                      json={"decision": "approve", "opinion": opinion})
    assert res.status_code == 200, res.text
    return res.json()


def _through(client, crew, reviewer, hh, stage, **kw):
    fill_stage(client, crew, hh, stage, **kw)
    res = client.post(f"{BASE}/{hh}/stages/{stage}/submit", headers=crew)
    assert res.status_code == 200, res.text
    _approve(client, reviewer, hh, stage)


def test_import_opens_a_case_per_household_with_ordered_stages_and_assignees(client, staff):
    crew = token(client, "S001")
    listed = client.get(BASE, headers=crew)
    assert listed.status_code == 200
    assert {c["household_no"] for c in listed.json()} == {HH1, HH2, HH3}
    case = _case(client, crew)
    codes = [s["code"] for s in case["stages"]]
    assert codes[:3] == ["pre_announcement", "survey", "quantity"] and codes[-1] == "archive" and len(codes) == 11
    assert [s["state"] for s in case["stages"]] == ["open"] + ["locked"] * 10
    assert case["current_stage"] == "pre_announcement" and case["state"] == "open"
    first = case["stages"][0]
    assert first["due_on"] is not None and first["assignee"] == "S001"
    assert _stage(case, "survey")["assignee"] == "S001"          # the package assigned it by its Chinese name
    assert _stage(case, "review")["assignee"] == "S002"          # S001's supervisor
    assert sum(1 for s in case["stages"] for i in s["items"] if i["mandatory"]) == 92


def test_field_crew_reaching_another_crews_case_is_403(client, staff):
    other = token(client, "S009")
    assert client.get(BASE, headers=other).json() == []
    assert client.get(f"{BASE}/{HH1}", headers=other).status_code == 403
    res = capture(client, other, HH1, "pre_announcement", "status_quo_photo")
    assert res.status_code == 403
    assert client.post(f"{BASE}/{HH1}/stages/pre_announcement/submit", headers=other).status_code == 403
    assert client.get(f"{BASE}/{HH1}/documents/quantity-sheet.pdf", headers=other).status_code == 403
    assert client.get(f"{BASE}/NOPE", headers=token(client, "S001")).status_code == 404


def test_out_of_order_stage_is_refused(client, staff):
    crew = token(client, "S001")
    res = client.post(f"{BASE}/{HH1}/stages/survey/submit", headers=crew)
    assert res.status_code == 409
    res = capture(client, crew, HH1, "survey", "head_id_card_front")
    assert res.status_code == 422 and "not open" in res.json()["detail"]
    res = client.post(f"{BASE}/{HH1}/stages/survey/review", headers=token(client, "S012"),
                      json={"decision": "approve", "opinion": "ok"})
    assert res.status_code == 409
    assert _stage(_case(client, crew), "survey")["state"] == "locked"


def test_submit_with_a_missing_item_is_409_with_the_missing_codes(client, staff):
    crew = token(client, "S001")
    fill_stage(client, crew, HH1, "pre_announcement", skip=("status_quo_video",))
    res = client.post(f"{BASE}/{HH1}/stages/pre_announcement/submit", headers=crew)
    assert res.status_code == 409
    assert res.json()["missing"] == ["status_quo_video"]
    one = capture(client, crew, HH1, "pre_announcement", "pre_notice_posting_photo", seed=99)
    assert one.status_code == 201
    assert capture(client, crew, HH1, "pre_announcement", "status_quo_video", kind="video").status_code == 201
    res = client.post(f"{BASE}/{HH1}/stages/pre_announcement/submit", headers=crew)
    assert res.status_code == 200 and res.json()["state"] == "submitted"
    assert "prompts" in res.json()["checks"]


def test_min_count_is_enforced(client, staff):
    crew = token(client, "S001")
    fill_stage(client, crew, HH1, "pre_announcement")
    # the posting photo needs two; remove one capture and the stage is incomplete again
    case = _case(client, crew)
    item = next(i for i in case["stages"][0]["items"] if i["code"] == "pre_notice_posting_photo")
    assert item["count"] == item["min_count"] == 2


def test_photo_without_position_or_with_poor_accuracy_is_422(client, staff):
    crew = token(client, "S001")
    res = capture(client, crew, HH1, "pre_announcement", "status_quo_photo", position=None)
    assert res.status_code == 422 and "position" in res.json()["detail"]
    res = capture(client, crew, HH1, "pre_announcement", "status_quo_photo", accuracy_m=None)
    assert res.status_code == 422 and "accuracy" in res.json()["detail"]
    res = capture(client, crew, HH1, "pre_announcement", "status_quo_photo", accuracy_m=85.0)
    assert res.status_code == 422 and "limit" in res.json()["detail"]
    # a document scan needs no position
    assert capture(client, crew, HH1, "pre_announcement", "pre_notice", kind="document", position=None,
                   accuracy_m=None).status_code == 201
    assert _stage(_case(client, crew), "pre_announcement")["items"][3]["count"] == 0


@pytest.mark.parametrize("item,kind,data", [
    ("status_quo_photo", "photo", b"%PDF-1.4 this is not a picture"),
    ("status_quo_photo", "photo", None),                           # a PDF where a photo is expected
    ("status_quo_video", "video", None),                           # a PNG where a video is expected
    ("pre_notice", "document", b"\x89PNG\r\n\x1a\n truncated"),    # a PNG header without a picture
])
def test_content_that_does_not_match_its_kind_is_422(client, staff, item, kind, data):
    crew = token(client, "S001")
    wrong = {"photo": pdf(), "video": png(), "document": None}[kind] if data is None else data
    res = capture(client, crew, HH1, "pre_announcement", item, kind=kind, data=wrong)
    assert res.status_code == 422, res.text
    count = client.get(f"{BASE}/{HH1}", headers=crew).json()["stages"][0]["items"]
    assert all(i["count"] == 0 for i in count)


def test_resent_capture_is_not_duplicated_and_other_bytes_are_409(client, conn, staff):
    crew = token(client, "S001")
    cid = str(uuid.uuid4())
    first = capture(client, crew, HH1, "pre_announcement", "status_quo_photo", capture_uuid=cid, seed=1)
    assert first.status_code == 201 and first.json()["created"] is True
    again = capture(client, crew, HH1, "pre_announcement", "status_quo_photo", capture_uuid=cid, seed=1)
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["sha256"] == first.json()["sha256"]
    other = capture(client, crew, HH1, "pre_announcement", "status_quo_photo", capture_uuid=cid, seed=2)
    assert other.status_code == 409
    n = conn.execute(text("SELECT count(*) FROM case_capture WHERE capture_uuid = :u"), {"u": cid}).scalar_one()
    assert n == 1
    item = next(i for i in _case(client, crew)["stages"][0]["items"] if i["code"] == "status_quo_photo")
    assert item["count"] == 1
    bad = capture(client, crew, HH1, "pre_announcement", "status_quo_photo", capture_uuid="not-a-uuid")
    assert bad.status_code == 422


def test_capture_far_from_the_parcel_is_kept_and_raises_a_prompt_at_once(client, conn, staff):
    crew = token(client, "S001")
    res = capture(client, crew, HH1, "pre_announcement", "status_quo_photo", position=FAR_AWAY)
    assert res.status_code == 201
    prompts = res.json()["checks"]["prompts"]
    far = [p for p in prompts if p["rule_code"] == "PHOTO_FAR_FROM_PARCEL"]
    assert [p["subject_key"] for p in far] == [res.json()["capture_uuid"]]
    assert far[0]["evidence"]["distance_m"] > 200
    near = capture(client, crew, HH1, "pre_announcement", "status_quo_photo", seed=3)
    assert res.json()["capture_uuid"] not in {p["subject_key"] for p in near.json()["checks"]["prompts"]
                                               if p["rule_code"] != "PHOTO_FAR_FROM_PARCEL"}
    assert near.json()["capture_uuid"] not in {p["subject_key"] for p in near.json()["checks"]["prompts"]}


def test_exif_time_and_position_are_read(client, staff):
    crew = token(client, "S001")
    data = jpeg_with_exif(123.552789, 41.704966)
    res = capture(client, crew, HH1, "pre_announcement", "status_quo_photo", data=data)
    assert res.status_code == 201, res.text
    exif = res.json()["exif"]
    assert exif["taken_at"] == "2025-03-20T10:15:00"
    assert exif["lon"] == pytest.approx(123.552789, abs=1e-4) and exif["lat"] == pytest.approx(41.704966, abs=1e-4)


def test_nobody_approves_their_own_work(client, staff):
    crew, sup, other_sup = token(client, "S001"), token(client, "S002"), token(client, "S012")
    res = client.post(f"{BASE}/{HH1}/stages/pre_announcement/assign", headers=sup,
                      json={"username": "S002", "reason": "组长亲自办理"})
    assert res.status_code == 200, res.text
    fill_stage(client, sup, HH1, "pre_announcement")
    assert client.post(f"{BASE}/{HH1}/stages/pre_announcement/submit", headers=sup).status_code == 200
    res = client.post(f"{BASE}/{HH1}/stages/pre_announcement/review", headers=sup,
                      json={"decision": "approve", "opinion": "同意"})
    assert res.status_code == 403
    # a field crew member cannot review at all
    res = client.post(f"{BASE}/{HH1}/stages/pre_announcement/review", headers=crew,
                      json={"decision": "approve", "opinion": "同意"})
    assert res.status_code == 403
    # a return needs an opinion
    res = client.post(f"{BASE}/{HH1}/stages/pre_announcement/review", headers=other_sup,
                      json={"decision": "return", "opinion": " "})
    assert res.status_code == 422
    done = _approve(client, other_sup, HH1, "pre_announcement")
    assert done["state"] == "approved" and done["next_stage"] == "survey"
    case = _case(client, crew)
    assert _stage(case, "survey")["state"] == "open" and _stage(case, "survey")["due_on"] is not None


def test_return_reopens_the_stage_with_the_opinion(client, conn, staff):
    crew, sup = token(client, "S001"), token(client, "S012")
    fill_stage(client, crew, HH2, "pre_announcement")
    assert client.post(f"{BASE}/{HH2}/stages/pre_announcement/submit", headers=crew).status_code == 200
    res = client.post(f"{BASE}/{HH2}/stages/pre_announcement/review", headers=sup,
                      json={"decision": "return", "opinion": "照片不清晰，请重拍"})
    assert res.status_code == 200 and res.json()["state"] == "returned"
    assert capture(client, crew, HH2, "pre_announcement", "status_quo_photo", seed=7).status_code == 201
    assert client.post(f"{BASE}/{HH2}/stages/pre_announcement/submit", headers=crew).status_code == 200
    opinion = conn.execute(text("SELECT opinion FROM stage_review ORDER BY id DESC LIMIT 1")).scalar_one()
    assert opinion == "照片不清晰，请重拍"


def test_the_surveyor_cannot_approve_the_quantity_sheet(client, staff):
    crew, sup, other_sup = token(client, "S001"), token(client, "S002"), token(client, "S012")
    _through(client, crew, other_sup, HH1, "pre_announcement")
    # the supervisor S012 does the survey himself, then S001 measures
    assert client.post(f"{BASE}/{HH1}/stages/survey/assign", headers=sup,
                       json={"username": "S012", "reason": "人手不足"}).status_code == 200
    _through(client, other_sup, sup, HH1, "survey")
    lines = {"lines": [{"item_kind": "building", "parcel_code": "210112101201JC00001", "building_no": "1",
                        "structure_type": "brick_concrete", "storeys": 2, "quantity": "160.00",
                        "unit_price_yuan": "1850.00"}]}
    res = client.put(f"{BASE}/{HH1}/quantities", headers=crew, json=lines)
    assert res.status_code == 200, res.text
    assert res.json()["total_yuan"] == "296000.00"
    sheet = client.get(f"{BASE}/{HH1}/documents/quantity-sheet.pdf", headers=crew)
    number = sheet.headers["X-Document-Number"]
    fill_stage(client, crew, HH1, "quantity", extra={"quantity_sheet_signed": {"document_no": number}})
    assert client.post(f"{BASE}/{HH1}/stages/quantity/submit", headers=crew).status_code == 200
    res = client.post(f"{BASE}/{HH1}/stages/quantity/review", headers=other_sup,
                      json={"decision": "approve", "opinion": "同意"})
    assert res.status_code == 403 and "survey" in res.json()["detail"]
    _approve(client, sup, HH1, "quantity")


def test_signed_scan_must_match_the_generated_document_number(client, staff):
    crew, sup = token(client, "S001"), token(client, "S012")
    _through(client, crew, sup, HH1, "pre_announcement")
    _through(client, crew, sup, HH1, "survey")
    res = capture(client, crew, HH1, "quantity", "quantity_sheet_signed", kind="document",
                  extra={"document_no": "T-001-HL-X-01"})
    assert res.status_code == 422                                  # nothing generated yet
    number = client.get(f"{BASE}/{HH1}/documents/quantity-sheet.pdf", headers=crew).headers["X-Document-Number"]
    res = capture(client, crew, HH1, "quantity", "quantity_sheet_signed", kind="document",
                  extra={"document_no": "T-001-HL-X-01"})
    assert res.status_code == 422 and number in res.json()["detail"]
    res = capture(client, crew, HH1, "quantity", "quantity_sheet_signed", kind="document",
                  extra={"document_no": number})
    assert res.status_code == 201


def test_quantity_amount_must_be_quantity_times_price(client, staff):
    crew, sup = token(client, "S001"), token(client, "S012")
    _through(client, crew, sup, HH1, "pre_announcement")
    _through(client, crew, sup, HH1, "survey")
    res = client.put(f"{BASE}/{HH1}/quantities", headers=crew, json={"lines": [
        {"building_no": "1", "parcel_code": "210112101201JC00001", "quantity": "100", "unit_price_yuan": "1000",
         "amount_yuan": "150000"}]})
    assert res.status_code == 422


def test_payment_before_approval_is_409_then_allowed(client, conn, staff):
    crew, sup, admin = token(client, "S001"), token(client, "S012"), token(client, "A01")
    body = {"payment_id": "API-PAY-1", "amount_yuan": "1000.00", "payee_id_number": HOUSEHOLDS[2][1],
            "payee_name": HOUSEHOLDS[2][2], "paid_on": "2025-08-01"}
    res = client.post(f"{BASE}/{HH3}/payments", headers=admin, json=body)
    assert res.status_code == 409 and "agreement" in res.json()["detail"]
    for stage in ("pre_announcement", "survey"):
        _through(client, crew, sup, HH3, stage)
    number = client.get(f"{BASE}/{HH3}/documents/quantity-sheet.pdf", headers=crew).headers["X-Document-Number"]
    _through(client, crew, sup, HH3, "quantity", extra={"quantity_sheet_signed": {"document_no": number}})
    for stage in ("valuation", "publication"):
        _through(client, crew, sup, HH3, stage)
    res = client.post(f"{BASE}/{HH3}/payments", headers=admin, json=body)
    assert res.status_code == 409                                  # the agreement is not signed and approved yet
    agreement = client.get(f"{BASE}/{HH3}/documents/agreement.pdf", headers=crew).headers["X-Document-Number"]
    _through(client, crew, sup, HH3, "agreement", extra={"agreement_signed": {"document_no": agreement}})
    s002 = token(client, "S002")
    fill_stage(client, s002, HH3, "review")
    assert client.post(f"{BASE}/{HH3}/stages/review/submit", headers=s002).status_code == 200
    _approve(client, sup, HH3, "review")
    res = client.post(f"{BASE}/{HH3}/payments", headers=admin, json=body)
    assert res.status_code == 201, res.text
    assert client.post(f"{BASE}/{HH3}/payments", headers=admin, json=body).status_code == 200
    assert client.post(f"{BASE}/{HH3}/payments", headers=admin,
                       json={**body, "amount_yuan": "2000.00"}).status_code == 409
    rows = conn.execute(text("SELECT count(*), max(agreement_no) FROM payment WHERE payment_id = 'API-PAY-1'")).one()
    assert rows[0] == 1 and rows[1] == agreement


def test_every_act_is_audited(client, conn, staff):
    crew, sup = token(client, "S001"), token(client, "S012")
    before = conn.execute(text("SELECT count(*) FROM audit_event")).scalar_one()
    _through(client, crew, sup, HH2, "pre_announcement")
    actions = [r[0] for r in conn.execute(text("SELECT action FROM audit_event ORDER BY seq")).all()[before:]]
    assert actions.count("capture.store") == 6
    assert "stage.submit" in actions and "stage.approve" in actions


def test_video_capture_is_checked_as_a_container(client, staff):
    crew = token(client, "S001")
    res = capture(client, crew, HH1, "pre_announcement", "status_quo_video", kind="video", data=mp4()[:20])
    assert res.status_code == 422


def test_reimport_keeps_each_cases_progress_and_api_payments(client, conn, staff, tmp_path):
    from supervision.package.service import import_package
    from tests.common import write_package

    crew, sup = token(client, "S001"), token(client, "S012")
    _through(client, crew, sup, HH2, "pre_announcement")
    cid = str(uuid.uuid4())
    assert capture(client, crew, HH2, "survey", "head_id_card_front", capture_uuid=cid).status_code == 201
    import_package(conn, write_package(tmp_path / "again"))
    case = _case(client, crew, HH2)
    assert _stage(case, "pre_announcement")["state"] == "approved"
    assert _stage(case, "survey")["state"] == "open"
    assert next(i for i in _stage(case, "survey")["items"] if i["code"] == "head_id_card_front")["count"] == 1
    assert capture(client, crew, HH2, "survey", "head_id_card_front", capture_uuid=cid).status_code == 200
    n = conn.execute(text("SELECT count(*) FROM case_file cf JOIN project p ON p.id = cf.project_id "
                          "WHERE p.code = 'T-001'")).scalar_one()
    assert n == 3


def test_a_large_video_uploads_resumably(client, conn, staff):
    crew = token(client, "S001")
    data = mp4()
    cid = str(uuid.uuid4())
    start = {"capture_uuid": cid, "stage": "pre_announcement", "item_code": "status_quo_video", "lon": 123.552789,
             "lat": 41.704966, "accuracy_m": 4.0, "file_name": "clip.mp4", "size_bytes": len(data)}
    res = client.post(f"{BASE}/{HH1}/uploads", headers=crew, json=start)
    assert res.status_code == 201, res.text
    url = res.headers["Location"]
    assert res.json()["offset"] == 0 and res.json()["state"] == "receiving"
    again = client.post(f"{BASE}/{HH1}/uploads", headers=crew, json=start)
    assert again.status_code == 200 and again.json()["upload_id"] == res.json()["upload_id"]
    octets = {**crew, "Content-Type": "application/offset+octet-stream"}
    half = len(data) // 2
    first = client.patch(url, headers={**octets, "Upload-Offset": "0"}, content=data[:half])
    assert first.status_code == 200 and first.json()["offset"] == half
    wrong = client.patch(url, headers={**octets, "Upload-Offset": "0"}, content=data[:half])
    assert wrong.status_code == 409                                # a range at the wrong offset is refused
    state = client.get(url, headers=crew)
    assert state.json()["offset"] == half and state.headers["Upload-Offset"] == str(half)
    other = client.get(url, headers=token(client, "S009"))
    assert other.status_code == 403
    done = client.patch(url, headers={**octets, "Upload-Offset": str(half)}, content=data[half:])
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "complete" and done.json()["capture"]["media_type"] == "video/mp4"
    assert client.patch(url, headers={**octets, "Upload-Offset": str(len(data))}, content=b"x").status_code == 409
    n = conn.execute(text("SELECT count(*) FROM case_capture WHERE capture_uuid = :u"), {"u": cid}).scalar_one()
    assert n == 1


def test_a_resumable_upload_of_the_wrong_content_is_refused_at_the_end(client, staff):
    crew = token(client, "S001")
    data = png()
    start = {"capture_uuid": str(uuid.uuid4()), "stage": "pre_announcement", "item_code": "status_quo_video",
             "lon": 123.552789, "lat": 41.704966, "accuracy_m": 4.0, "size_bytes": len(data)}
    res = client.post(f"{BASE}/{HH1}/uploads", headers=crew, json=start)
    url = res.headers["Location"]
    end = client.patch(url, headers={**crew, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
                       content=data)
    assert end.status_code == 422 and end.json()["state"] == "refused"
    assert client.get(url, headers=crew).json()["state"] == "refused"
    too_far = {**start, "capture_uuid": str(uuid.uuid4()), "accuracy_m": 500.0}
    assert client.post(f"{BASE}/{HH1}/uploads", headers=crew, json=too_far).status_code == 422
    huge = {**start, "capture_uuid": str(uuid.uuid4()), "size_bytes": 10**12}
    assert client.post(f"{BASE}/{HH1}/uploads", headers=crew, json=huge).status_code == 413


def test_documents_come_from_the_stored_record_numbered_and_stable(client, conn, staff, tmp_path):
    import subprocess

    crew = token(client, "S001")
    first = client.get(f"{BASE}/{HH1}/documents/quantity-sheet.pdf", headers=crew)
    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    again = client.get(f"{BASE}/{HH1}/documents/quantity-sheet.pdf", headers=crew)
    assert again.content == first.content and again.headers["X-Document-Number"] == first.headers["X-Document-Number"]
    path = tmp_path / "sheet.pdf"
    path.write_bytes(first.content)
    layer = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                           check=True).stdout
    assert "王建国" in layer and "160.00" in layer and "306,800.00" in layer
    assert "叁拾万陆仟捌佰元整" in layer                    # 296,000 + 10,800 in capital numerals
    agreement = client.get(f"{BASE}/{HH1}/documents/agreement.pdf", headers=crew)
    assert agreement.status_code == 200 and agreement.headers["X-Document-Number"].startswith("T-001-XY-")
    stored = conn.execute(text("SELECT kind, pdf_sha256 FROM case_document ORDER BY id")).all()
    assert [k for k, _ in stored] == ["quantity_sheet", "agreement"]
    assert stored[0][1] == first.headers["X-Content-SHA256"]


def test_a_reassigned_stage_is_no_longer_the_former_assignees(client, staff):
    crew, sup = token(client, "S001"), token(client, "S012")
    res = client.post(f"{BASE}/{HH1}/stages/pre_announcement/assign", headers=sup,
                      json={"username": "S009", "reason": "调岗"})
    assert res.status_code == 200
    assert capture(client, crew, HH1, "pre_announcement", "status_quo_photo").status_code == 403
    assert capture(client, token(client, "S009"), HH1, "pre_announcement", "status_quo_photo").status_code == 201
