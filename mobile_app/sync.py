"""The sync client: sends what the store queued, in order, and pulls the assigned cases (DATA_FORMATS §5).

Captures first (small ones as one multipart POST, large ones through the resumable upload routes from
the offset the server reports), then quantity records, then stage submissions, then the cases again.
Every request is idempotent on the server (``capture_uuid``; a resumable upload found again by it; a
submit of a stage already submitted is recognised), so running sync twice, or after a crash, changes
nothing the second time. Connection errors, 5xx and 429 are retried with exponential backoff and full
jitter, honouring ``Retry-After``; a refusal (403, 409 other bytes, 413, 422) is kept with its reason
and the capture stays on the device.
"""

from __future__ import annotations

import base64
import email.utils
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from mobile_app.errors import ServerUnreachableError, SessionExpiredError, SyncError
from mobile_app.store import CaptureRecord, Session, Store

#: Captures larger than this go through the resumable upload routes.
LARGE_BYTES = 8 * 1024**2
#: Bytes sent per PATCH of a resumable upload.
CHUNK_BYTES = 1024**2
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REFUSED_STATUSES = frozenset({403, 404, 409, 413, 415, 422})


@dataclass(frozen=True)
class Retry:
    """How often and how patiently a request is retried: exponential backoff with full jitter."""

    attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``Retry-After`` wins, capped)."""
        if retry_after:
            wait = _retry_after_seconds(retry_after)
            if wait is not None:
                return min(self.cap_s, max(0.0, wait))
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


def _retry_after_seconds(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def token_expiry(token: str) -> float:
    """The ``exp`` of a JWT (read, not verified: the server verifies it); now + 1 h when unreadable."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return time.time() + 3600


def _detail(res: httpx.Response) -> str:
    try:
        body = res.json()
    except ValueError:
        return f"HTTP {res.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):             # FastAPI's validation errors
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return f"HTTP {res.status_code}: {detail or body}"


def sign_in(store: Store, server_url: str, username: str, password: str, *,
            transport: httpx.BaseTransport | None = None, retry: Retry = Retry()) -> Session:
    """Exchange the account's password for a token and keep the session for offline use."""
    with httpx.Client(base_url=server_url.rstrip("/"), timeout=30, transport=transport) as http:
        res = _with_retries(retry, lambda: http.post("/auth/token", data={"username": username,
                                                                          "password": password}))
    if res.status_code != 200:
        raise SessionExpiredError(f"登录失败 / sign-in failed: {_detail(res)}")
    token = res.json()["access_token"]
    store.save_session(server_url, username, token, token_expiry(token))
    session = store.session()
    assert session is not None
    return session


def _with_retries(retry: Retry, send: Callable[[], httpx.Response]) -> httpx.Response:
    last: str = ""
    for attempt in range(retry.attempts):
        try:
            res = send()
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
            retry_after = None
        else:
            if res.status_code not in RETRY_STATUSES:
                return res
            last, retry_after = f"HTTP {res.status_code}", res.headers.get("Retry-After")
        if attempt + 1 < retry.attempts:
            time.sleep(retry.delay(attempt, retry_after))
    raise ServerUnreachableError(f"服务器无法连接，稍后自动重试，数据均保存在本机 / the server cannot be reached "
                                 f"({last}); everything stays on this device")


@dataclass
class SyncReport:
    """What one sync did."""

    outcome: str = "ok"                       # ok, unreachable, expired
    uploaded: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    submitted: list[str] = field(default_factory=list)
    still_missing: dict[str, list[str]] = field(default_factory=dict)
    quantities: list[str] = field(default_factory=list)
    cases: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return dict(self.__dict__)


class SyncClient:
    """Sync one store with its session's server (or ``server_url``); use as a context manager."""

    def __init__(self, store: Store, *, server_url: str | None = None, retry: Retry = Retry(),
                 large_bytes: int = LARGE_BYTES, chunk_bytes: int = CHUNK_BYTES, chunk_pause_s: float = 0.0,
                 timeout_s: float = 60.0, transport: httpx.BaseTransport | None = None) -> None:
        session = store.session()
        if session is None:
            raise SessionExpiredError("尚未登录，请先登录 / not signed in: sign in first")
        self.store, self.session, self.retry = store, session, retry
        self.large_bytes, self.chunk_bytes, self.chunk_pause_s = large_bytes, chunk_bytes, chunk_pause_s
        self.http = httpx.Client(base_url=(server_url or session.server_url).rstrip("/"), timeout=timeout_s,
                                 transport=transport, headers={"Authorization": f"Bearer {session.token}"})

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests ------------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """One request with retries; SessionExpiredError on 401."""
        res = _with_retries(self.retry, lambda: self.http.request(method, url, **kw))
        if res.status_code == 401:
            raise SessionExpiredError(f"登录已过期，请重新登录（数据均保存在本机）/ the session has expired: sign in "
                                      f"again (everything stays on this device): {_detail(res)}")
        return res

    def get(self, url: str, **kw: Any) -> httpx.Response:
        """A GET with the session's token and the retries (ServerUnreachableError, SessionExpiredError)."""
        return self._send("GET", url, **kw)

    def _case_url(self, project_code: str, household_no: str) -> str:
        return f"/projects/{project_code}/cases/{household_no}"

    # --- the whole sync ------------------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Push captures, quantity records and submissions, then pull the cases; logged in the store."""
        report = SyncReport()
        log_id = self.store.log_sync_start()
        try:
            if self.session.expired:
                raise SessionExpiredError("登录已过期，请重新登录（数据均保存在本机）/ the session has expired: "
                                          "sign in again (everything stays on this device)")
            self.push_captures(report)
            self.push_quantities(report)
            self.push_submissions(report)
            report.cases = self.pull()
        except ServerUnreachableError as exc:
            report.outcome, report.error = "unreachable", str(exc)
        except SessionExpiredError as exc:
            report.outcome, report.error = "expired", str(exc)
        except SyncError as exc:
            report.outcome, report.error = "error", str(exc)
        self.store.log_sync_end(log_id, report.outcome, report.as_dict())
        return report

    # --- cases ---------------------------------------------------------------------------------------------

    def pull(self) -> int:
        """Fetch every case assigned to the caller, with its stages and items; how many."""
        res = self._send("GET", "/projects")
        if res.status_code != 200:
            raise SyncError(f"无法获取项目列表 / cannot list the projects: {_detail(res)}")
        pulled = 0
        for project in res.json():
            code = project["code"]
            listed = self._send("GET", f"/projects/{code}/cases")
            if listed.status_code != 200:
                continue                        # a project the caller may not see
            keep = set()
            for summary in listed.json():
                detail = self._send("GET", self._case_url(code, summary["household_no"]))
                if detail.status_code == 200:
                    self.store.save_case(detail.json())
                    keep.add(summary["household_no"])
                    pulled += 1
            self.store.mark_unassigned(code, keep)
        return pulled

    # --- captures ------------------------------------------------------------------------------------------

    def push_captures(self, report: SyncReport) -> None:
        """Send every capture not yet uploaded (nor refused), oldest first."""
        for capture in self.store.captures(states=("pending", "uploading")):
            if capture.size_bytes > self.large_bytes:
                state, reason = self._send_resumable(capture)
            else:
                state, reason = self._send_small(capture)
            if state == "uploaded":
                report.uploaded.append(capture.capture_uuid)
            else:
                report.refused[capture.capture_uuid] = reason or ""

    def _fields(self, c: CaptureRecord) -> dict[str, str]:
        out = {"capture_uuid": c.capture_uuid, "stage": c.stage_code, "item_code": c.item_code,
               "taken_at": c.taken_at}
        for key, value in (("lon", c.lon), ("lat", c.lat), ("accuracy_m", c.accuracy_m),
                           ("document_no", c.document_no)):
            if value is not None:
                out[key] = repr(value) if isinstance(value, float) else str(value)
        return out

    def _finish(self, c: CaptureRecord, res: httpx.Response) -> tuple[str, str | None]:
        """Record the server's answer to a capture: uploaded, refused with the reason, or an error."""
        if res.status_code in (200, 201):
            body = res.json()
            stored = body.get("capture") or body
            if stored.get("sha256") not in (None, c.sha256):
                reason = "服务器存储的文件与本机不一致 / the server holds other bytes for this capture"
                self.store.set_upload(c.capture_uuid, "refused", reason=reason, attempt=True)
                return "refused", reason
            self.store.set_upload(c.capture_uuid, "uploaded", server_offset=c.size_bytes, attempt=True)
            return "uploaded", None
        if res.status_code in REFUSED_STATUSES:
            reason = _detail(res)
            self.store.set_upload(c.capture_uuid, "refused", reason=reason, attempt=True)
            return "refused", reason
        raise SyncError(f"采集 {c.capture_uuid} 上传失败 / uploading capture {c.capture_uuid} failed: {_detail(res)}")

    def _send_small(self, c: CaptureRecord) -> tuple[str, str | None]:
        url = self._case_url(c.project_code, c.household_no) + "/captures"
        fields = self._fields(c)

        def send() -> httpx.Response:
            with open(c.path, "rb") as fh:
                return self.http.post(url, data=fields,
                                      files={"file": (c.file_name, fh, c.media_type or "application/octet-stream")})
        res = _with_retries(self.retry, send)
        if res.status_code == 401:
            raise SessionExpiredError(f"登录已过期，请重新登录 / the session has expired: {_detail(res)}")
        return self._finish(c, res)

    def _start_upload(self, c: CaptureRecord) -> httpx.Response:
        body: dict[str, Any] = {"capture_uuid": c.capture_uuid, "stage": c.stage_code, "item_code": c.item_code,
                                "taken_at": c.taken_at, "lon": c.lon, "lat": c.lat, "accuracy_m": c.accuracy_m,
                                "document_no": c.document_no, "file_name": c.file_name, "size_bytes": c.size_bytes}
        return self._send("POST", self._case_url(c.project_code, c.household_no) + "/uploads", json=body)

    def _upload_state(self, c: CaptureRecord, url: str | None) -> tuple[str, httpx.Response]:
        """The upload's URL and state (started, or found again, by its capture_uuid)."""
        if url:
            res = self._send("GET", url)
            if res.status_code == 200:
                return url, res
        res = self._start_upload(c)
        if res.status_code in (200, 201):
            return res.headers["Location"], res
        return "", res

    def _send_resumable(self, c: CaptureRecord) -> tuple[str, str | None]:
        """Send a large capture in ranges from the server's offset; a lost connection resumes where it was."""
        url, res = self._upload_state(c, c.upload_url)
        failures = 0
        while True:
            if res.status_code not in (200, 201):
                return self._finish(c, res)
            state = res.json()
            if state["state"] == "complete":
                self.store.set_upload(c.capture_uuid, "uploaded", server_offset=state["offset"], attempt=True)
                return "uploaded", None
            if state["state"] == "refused":
                reason = state.get("error") or "refused"
                self.store.set_upload(c.capture_uuid, "refused", server_offset=state["offset"], reason=reason,
                                      attempt=True)
                return "refused", reason
            offset = int(state["offset"])
            self.store.set_upload(c.capture_uuid, "uploading", server_offset=offset, upload_url=url)
            with open(c.path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read(self.chunk_bytes)
            patched: httpx.Response | None
            try:
                patched = self.http.patch(url, content=chunk, headers={
                    "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
            except httpx.TransportError:
                patched = None
            if patched is None or patched.status_code in RETRY_STATUSES or patched.status_code == 409:
                failures += 1
                if failures >= self.retry.attempts:
                    raise ServerUnreachableError(f"上传 {c.capture_uuid} 多次中断，稍后续传 / the upload of "
                                                 f"{c.capture_uuid} was interrupted; it resumes at the next sync")
                if patched is None or patched.status_code != 409:
                    time.sleep(self.retry.delay(failures - 1,
                                                patched.headers.get("Retry-After") if patched is not None else None))
                url, res = self._upload_state(c, url)     # where the server is now
                continue
            res = patched
            if res.status_code == 401:
                raise SessionExpiredError(f"登录已过期，请重新登录 / the session has expired: {_detail(res)}")
            if res.status_code == 422:
                return self._finish(c, res)
            failures = 0
            if self.chunk_pause_s:
                time.sleep(self.chunk_pause_s)

    # --- quantities and submissions ------------------------------------------------------------------------

    def push_quantities(self, report: SyncReport) -> None:
        """Send every queued quantity record; the server's prompts on it are kept."""
        for q in self.store.quantities(states=("queued",)):
            res = self._send("PUT", self._case_url(q.project_code, q.household_no) + "/quantities",
                             json={"lines": q.lines})
            key = f"{q.project_code}/{q.household_no}"
            if res.status_code == 200:
                prompts = (res.json().get("checks") or {}).get("prompts") or []
                self.store.set_quantities(q.project_code, q.household_no, "sent", prompts=prompts)
                report.quantities.append(key)
            elif res.status_code in REFUSED_STATUSES:
                self.store.set_quantities(q.project_code, q.household_no, "refused", reason=_detail(res))
                report.refused[key + "/quantities"] = _detail(res)
            else:
                raise SyncError(f"核量记录 {key} 发送失败 / sending the quantities of {key} failed: {_detail(res)}")

    def push_submissions(self, report: SyncReport) -> None:
        """Submit every queued stage; a 409 with ``missing`` keeps it queued and says what is missing."""
        for s in self.store.submissions(states=("queued",)):
            assert s.stage_code is not None
            key = f"{s.project_code}/{s.household_no}/{s.stage_code}"
            base = self._case_url(s.project_code, s.household_no)
            res = self._send("POST", f"{base}/stages/{s.stage_code}/submit")
            if res.status_code == 200:
                self.store.set_submission(s.project_code, s.household_no, s.stage_code, "sent")
                report.submitted.append(key)
                continue
            body = res.json() if res.headers.get("content-type", "").startswith("application/json") else {}
            if res.status_code == 409 and body.get("missing"):
                self.store.set_submission(s.project_code, s.household_no, s.stage_code, "queued",
                                          missing=list(body["missing"]), reason=_detail(res))
                report.still_missing[key] = list(body["missing"])
                continue
            if res.status_code == 409:                 # not open: already submitted by an earlier, crashed sync?
                case = self._send("GET", base)
                stage = next((st for st in case.json().get("stages", []) if st["code"] == s.stage_code), None) \
                    if case.status_code == 200 else None
                if stage is not None and stage["state"] in ("submitted", "approved"):
                    self.store.set_submission(s.project_code, s.household_no, s.stage_code, "sent")
                    report.submitted.append(key)
                    continue
            if res.status_code in REFUSED_STATUSES:
                self.store.set_submission(s.project_code, s.household_no, s.stage_code, "refused",
                                          reason=_detail(res))
                report.refused[key] = _detail(res)
                continue
            raise SyncError(f"环节 {key} 提交失败 / submitting {key} failed: {_detail(res)}")
