"""ASGI middleware: security headers on every response; text the database cannot store refused with 422.

Both are plain ASGI (no ``BaseHTTPMiddleware``) so that streamed uploads and responses stay streamed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Headers set on every response that has not set them itself (a page with its own CSP keeps it).
SECURITY_HEADERS: dict[bytes, bytes] = {
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"same-origin",
    b"content-security-policy": b"default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    b"cross-origin-opener-policy": b"same-origin",
}
HSTS = b"max-age=31536000"
#: Request bodies inspected for NUL bytes and lone surrogates (forms and JSON); larger ones are not buffered.
INSPECT_MAX_BYTES = 1024 * 1024
REFUSAL = json.dumps({"detail": "text contains a NUL byte or an invalid character / 文本含有空字符或非法字符"},
                     ensure_ascii=False).encode("utf-8")


class SecurityHeaders:
    """Add :data:`SECURITY_HEADERS` (and HSTS over HTTPS) to each response lacking them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in SECURITY_HEADERS.items() if name not in present]
                if https and b"strict-transport-security" not in present:
                    headers.append((b"strict-transport-security", HSTS))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def storable(value: str) -> bool:
    """Whether PostgreSQL can store ``value`` as text: no NUL character, valid UTF-8 (no lone surrogates)."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_storable(node: Any) -> bool:
    if isinstance(node, str):
        return storable(node)
    if isinstance(node, dict):
        return all((not isinstance(k, str) or storable(k)) and _json_storable(v) for k, v in node.items())
    if isinstance(node, (list, tuple)):
        return all(_json_storable(v) for v in node)
    return True


def _inspected(content_type: bytes) -> str | None:
    """How a body of this type is read by the routes: "form", "json" (FastAPI reads JSON when there is no type)."""
    media = content_type.split(b";", 1)[0].strip()
    if media == b"application/x-www-form-urlencoded":
        return "form"
    if not media or media.endswith((b"/json", b"+json")):
        return "json"
    return None


def _body_storable(content_type: bytes, body: bytes) -> bool:
    if _inspected(content_type) == "form":
        return b"%00" not in body and b"\x00" not in body
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return True            # not JSON: the route's own validation answers 422
    return _json_storable(parsed)


class RefuseUnstorableText:
    """422 for a NUL byte (or a lone surrogate) in the path, the query string, a form or a JSON body.

    psycopg2 refuses such strings with an exception the handlers would otherwise turn into a 500;
    one check here covers every route, signed-in or not. Multipart uploads check their text fields
    in ``api.uploads``; :func:`guard_statements` catches whatever else reaches a statement.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            await _refuse(send)
            return
        headers = dict(scope.get("headers", []))
        content_type = headers.get(b"content-type", b"").lower()
        declared = headers.get(b"content-length", b"")
        inspect = (_inspected(content_type) is not None
                   and (not declared.isdigit() or int(declared) <= INSPECT_MAX_BYTES))
        if not inspect:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False) or len(body) > INSPECT_MAX_BYTES:
                break
        if len(body) <= INSPECT_MAX_BYTES and not _body_storable(content_type, bytes(body)):
            await _refuse(send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send) -> None:
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(REFUSAL)).encode())]})
    await send({"type": "http.response.body", "body": REFUSAL})


class UnstorableTextError(ValueError):
    """A statement was given text PostgreSQL cannot store (NUL byte, lone surrogate); answered with 422."""


def _refuse_unstorable_parameters(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                                  executemany: bool) -> None:
    for row in (parameters if executemany else [parameters]):
        values = row.values() if isinstance(row, dict) else (row or ())
        if not _json_storable(list(values)):       # strings, also inside arrays and JSON documents
            raise UnstorableTextError("text contains a NUL byte or an invalid character / 文本含有空字符或非法字符")


def guard_statements() -> None:
    """Check the text parameters of every statement of the process's engines (once; the API's last line)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "before_cursor_execute", _refuse_unstorable_parameters):
        event.listen(Engine, "before_cursor_execute", _refuse_unstorable_parameters)
