"""The field crew's Kivy app: a ScreenManager over :mod:`mobile_app.screens`; it only shows and collects.

Every rule (stage gates, the queue, sync) is in the plain-Python modules; the methods here pass what a
screen collected to them and tell the screen what came back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.core.text import LabelBase
from kivy.uix.screenmanager import NoTransition, ScreenManager

from mobile_app import field
from mobile_app.basemap import BasemapCache
from mobile_app.errors import MobileError
from mobile_app.store import Store
from mobile_app.sync import Retry, SyncClient, SyncReport, sign_in
from mobile_app.views import Fix

FONT = Path(__file__).resolve().parent / "fonts" / "ExproSansSC-Regular.otf"
SCREENS = ("signin", "cases", "case", "stage", "capture", "quantity", "signature", "map", "sync")


def register_font() -> None:
    """Make the bundled CJK font Kivy's default ("Roboto" is the name every Label and TextInput asks for)."""
    LabelBase.register(name="Roboto", fn_regular=str(FONT), fn_italic=str(FONT), fn_bold=str(FONT),
                       fn_bolditalic=str(FONT))


def short(exc: BaseException) -> str:
    """The Chinese half of a bilingual message."""
    return str(exc).split(" / ")[0]


class FieldApp(App):
    """The app: the store, what is open (case, stage, item), the last position fix, and the screens."""

    title = "征收外业"

    def __init__(self, data_dir: str | Path, *, server_url: str = "", username: str = "", **kw: Any) -> None:
        super().__init__(**kw)
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.data_dir)
        self.basemaps = BasemapCache(self.data_dir)
        self.server_url = server_url
        self.username = username
        self.project_code = ""
        self.household_no = ""
        self.stage_code = ""
        self.item_code = ""
        self.fix: Fix | None = None
        self.retry = Retry(attempts=2, base_s=0.2, cap_s=1.0)

    def build(self) -> ScreenManager:
        """Register the font, then build every screen (each loads its .kv next to its .py)."""
        register_font()
        from mobile_app import screens

        manager = ScreenManager(transition=NoTransition())
        for name in SCREENS:
            manager.add_widget(screens.make(name))
        session = self.store.session()
        if session is not None and not session.expired:
            self.server_url, self.username = session.server_url, session.username
            self.go("cases")
        else:
            self.go("signin", manager)
        return manager

    def go(self, name: str, manager: ScreenManager | None = None) -> None:
        """Show screen ``name`` with what the store holds now."""
        manager = manager or self.root
        screen = manager.get_screen(name)
        screen.refresh()
        manager.current = name

    def on_stop(self) -> None:
        """Close the store."""
        self.store.close()

    # --- actions: collected values in, the plain-Python result out ---------------------------------------------

    def sign_in(self, server_url: str, username: str, password: str) -> str:
        """Sign in (the token kept for offline use), pull the cases and the basemaps; "" or why not."""
        session = self.store.session()
        try:
            sign_in(self.store, server_url, username, password, retry=self.retry)
        except MobileError as exc:
            if session is not None and not session.expired and session.username == username:
                self.server_url, self.username = session.server_url, username
                return ""                          # offline: the kept token until it expires
            return short(exc)
        self.server_url, self.username = server_url, username
        self.sync_now()
        return ""

    def sync_now(self) -> SyncReport:
        """One sync, then the basemaps of the projects of my cases are brought up to date."""
        with SyncClient(self.store, retry=self.retry) as client:
            report = client.sync()
            if report.outcome == "ok":
                for project in sorted({c.project_code for c in self.store.cases()}):
                    self.basemaps.refresh(client, project)
        return report

    def take_capture(self, path: str | Path) -> str:
        """Keep a capture of the open item at the last fix; "" or why it was refused (nothing kept then)."""
        fix = self.fix
        try:
            field.take_capture(self.store, self.project_code, self.household_no, self.stage_code,
                               self.item_code, path, lon=fix.lon if fix else None, lat=fix.lat if fix else None,
                               accuracy_m=fix.accuracy_m if fix else None)
        except MobileError as exc:
            return short(exc)
        return ""

    def submit(self) -> str:
        """Queue the open stage's submission; "" or why not."""
        try:
            field.submit_stage(self.store, self.project_code, self.household_no, self.stage_code)
        except MobileError as exc:
            return short(exc)
        return ""

    def record_quantities(self, lines: list[dict]) -> str:
        """Queue the case's quantity record; "" or why not."""
        try:
            field.record_quantities(self.store, self.project_code, self.household_no, lines)
        except MobileError as exc:
            return short(exc)
        return ""
