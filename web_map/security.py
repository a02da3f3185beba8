"""What the map pages do with user data and scripts: escape every value, allow only the page's own scripts.

User data (project names, household numbers, names, alert messages) is escaped once, by :func:`text`,
for HTML that may also sit inside a JavaScript template literal (folium puts popup HTML in backticks).
Every ``<script>`` the page emits carries a per-response nonce and the Content-Security-Policy allows
only scripts from this server and scripts with that nonce, so injected markup cannot run script.
"""

from __future__ import annotations

import html
import re
import secrets

#: Characters that end or interpolate a JavaScript template literal, as HTML entities (same text on screen).
_TEMPLATE_LITERAL = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;"})
_SCRIPT_TAG = re.compile(r"<script(?=[\s>])", re.IGNORECASE)


def text(value: object) -> str:
    """``value`` as HTML text, safe in an element, an attribute and a JavaScript template literal."""
    return html.escape("" if value is None else str(value), quote=True).translate(_TEMPLATE_LITERAL)


def new_nonce() -> str:
    """A fresh nonce for one response."""
    return secrets.token_urlsafe(18)


def add_nonce(page: str, nonce: str) -> str:
    """``page`` with ``nonce`` on every ``<script>`` tag (user data in it is escaped, so every tag is ours)."""
    return _SCRIPT_TAG.sub(f'<script nonce="{nonce}"', page)


def content_security_policy(nonce: str | None = None) -> str:
    """The Content-Security-Policy of a map page: scripts from this server or with ``nonce`` (none when None),
    no plugins, no framing, forms and everything else from this server only."""
    scripts = f"'self' 'nonce-{nonce}'" if nonce else "'none'"
    return ("default-src 'self'; "
            f"script-src {scripts}; "
            "style-src 'self' 'unsafe-inline'; "      # folium and Leaflet set inline styles
            "img-src 'self' data: blob:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
