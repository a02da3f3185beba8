"""Run the field app: ``python -m mobile_app [--data DIR]``, or walk its screens and write one PNG of each:
``python -m mobile_app --tour DIR --server URL [--orientation landscape|portrait]``.

The tour opens a real window (``SDL_VIDEODRIVER=offscreen`` works headless), signs in with a demo field
crew login, and goes sign-in → cases → case → stage → capture → quantity form → signature → map → sync
against the server at URL, pressing the same buttons a crew member would. ``DIR/tour.json`` lists the
screenshots and what the screens showed (e.g. whether submit was enabled). Exit 0 when the tour ran to the
end, 1 when a step failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

SIZES = {"landscape": (1280, 800), "portrait": (800, 1280)}


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m mobile_app", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tour", type=Path, metavar="DIR", help="walk every screen and write a PNG of each here")
    parser.add_argument("--server", default="", help="the API's address, e.g. http://127.0.0.1:8000")
    parser.add_argument("--orientation", choices=sorted(SIZES), default="landscape")
    parser.add_argument("--user", default="S001", help="the field crew account (demo: S001)")
    parser.add_argument("--password", default=os.environ.get("EXPRO_PASSWORD", "correct-horse-42"),
                        help="its password (default $EXPRO_PASSWORD, else the demo's)")
    parser.add_argument("--case", default="", metavar="HOUSEHOLD_NO",
                        help="the tour opens this case (default: the first of my cases with an open stage)")
    parser.add_argument("--data", type=Path, default=None,
                        help="the store's folder (default $EXPRO_MOBILE_DATA or ./expro-mobile-data; the tour "
                             "uses a fresh folder under DIR)")
    args = parser.parse_args(argv)
    if args.tour is not None and not args.server:
        parser.error("--tour needs --server")
    return args


def configure_window(orientation: str) -> None:
    """Set the window's size before Kivy creates the window."""
    from kivy.config import Config

    width, height = SIZES[orientation]
    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "resizable", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "0")


# --- sample files for the desktop's file chooser ----------------------------------------------------------------

def write_samples(folder: Path) -> dict[str, Path]:
    """A photo, a video and a document to choose on the desktop (a tablet uses its camera instead)."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    photo = folder / "房屋正面.png"
    image = Image.new("RGB", (640, 480), (180, 190, 200))
    draw = ImageDraw.Draw(image)
    draw.rectangle((120, 180, 520, 420), fill=(150, 90, 70))
    draw.polygon([(100, 190), (320, 60), (540, 190)], fill=(90, 60, 50))
    image.save(photo, "PNG")

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload
    video = folder / "现场视频.mp4"
    video.write_bytes(box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + box(b"moov", b"\x00" * 16)
                      + box(b"mdat", b"\x00" * 64))
    document = folder / "权属证明.pdf"
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="scan")
    document.write_bytes(bytes(pdf.output()))
    return {"photo": photo, "video": video, "document": document, "form": document}


# --- the tour ------------------------------------------------------------------------------------------------------

class Tour:
    """The steps of the tour, one per frame, with a screenshot after each screen is laid out."""

    def __init__(self, app: Any, out: Path, server: str, user: str, password: str, case: str = "") -> None:
        self.app, self.out, self.server, self.user, self.password = app, out, server, user, password
        self.case_no = case
        self.samples = write_samples(out / "samples")
        self.summary: dict[str, Any] = {"screens": [], "checks": {}}
        self.steps = [self.sign_in_form, self.cases, self.case, self.stage, self.capture_refused, self.capture,
                      self.quantity, self.signature, self.stage_complete, self.map, self.sync_waiting,
                      self.sync_done]
        self.failed = False

    def start(self) -> None:
        """Run the steps, one per scheduled frame."""
        from kivy.clock import Clock

        self.clock = Clock
        Clock.schedule_once(lambda _dt: self.next(0), 0.5)

    def next(self, index: int) -> None:
        if index >= len(self.steps):
            self.finish()
            return
        try:
            name = self.steps[index]()
        except Exception:                       # noqa: BLE001  (reported, the tour ends with exit 1)
            traceback.print_exc()
            self.summary["error"] = traceback.format_exc()
            self.failed = True
            self.finish()
            return
        self.clock.schedule_once(lambda _dt: self.shoot(name, index), 0.4)

    def shoot(self, name: str, index: int) -> None:
        from kivy.core.window import Window

        path = self.out / f"{index + 1:02d}-{name}.png"
        self.app.root.export_to_png(str(path))
        self.summary["screens"].append({"name": name, "file": path.name, "window": list(Window.size)})
        print(f"tour: {path}", flush=True)
        self.next(index + 1)

    def finish(self) -> None:
        (self.out / "tour.json").write_text(json.dumps(self.summary, ensure_ascii=False, indent=1),
                                            encoding="utf-8")
        self.app.stop()

    @property
    def screen(self) -> Any:
        return self.app.root.current_screen

    # each step acts like the crew member, shows a screen and returns its name
    def sign_in_form(self) -> str:
        self.app.go("signin")
        ids = self.screen.ids
        ids.server.text, ids.account.text, ids.password.text = self.server, self.user, self.password
        return "signin"

    def cases(self) -> str:
        self.screen.submit()
        if self.app.root.current != "cases":
            raise RuntimeError(f"sign-in failed: {self.screen.ids.message.text}")
        return "cases"

    def case(self) -> str:
        from mobile_app import views

        rows = [r for r in views.case_rows(self.app.store) if r.assigned]
        workable = [r for r in rows if r.stage_code and any(
            s.workable for s in views.stage_rows(self.app.store, r.project_code, r.household_no))
            and (not self.case_no or r.household_no == self.case_no)]
        if not workable:
            raise RuntimeError("no assigned case has an open stage")
        self.screen.open(workable[0])
        return "case"

    def stage(self) -> str:
        from mobile_app import views

        row = next(r for r in views.stage_rows(self.app.store, self.app.project_code, self.app.household_no)
                   if r.workable)
        self.screen.open(row)
        self.summary["checks"]["stage"] = row.code
        self.summary["checks"]["submit_enabled_at_start"] = not self.screen.ids.submit.disabled
        self.summary["checks"]["note_at_start"] = self.screen.ids.note.text
        return "stage"

    def _on_site(self) -> tuple[float, float]:
        kept = self.app.basemaps.load(self.app.project_code)
        centre = kept.centroid(self.app.household_no) if kept else None
        return centre or (123.552789, 41.704966)

    def capture_refused(self) -> str:
        rows = self.app.root.get_screen("stage").view.rows
        photo = next(r for r in rows if r.kind == "photo")
        self.screen.take(photo)
        screen = self.screen
        limit = self.app.store.case(self.app.project_code, self.app.household_no).accuracy_limit_m
        lon, lat = self._on_site()
        screen.ids.chooser.path = str(self.samples["photo"].parent)
        screen.ids.chooser.selection = [str(self.samples["photo"])]
        screen.ids.lon.text, screen.ids.lat.text = f"{lon:.6f}", f"{lat:.6f}"
        screen.ids.accuracy.text = f"{limit * 4:g}"
        screen.set_fix(screen.ids.lon.text, screen.ids.lat.text, screen.ids.accuracy.text)
        self.summary["checks"]["capture_allowed_when_inaccurate"] = not screen.ids.keep.disabled
        self.summary["checks"]["position_refused_text"] = screen.ids.position.text
        return "capture-refused"

    def capture(self) -> str:
        screen = self.screen
        screen.ids.accuracy.text = "4.5"
        screen.set_fix(screen.ids.lon.text, screen.ids.lat.text, screen.ids.accuracy.text)
        self.summary["checks"]["capture_allowed_when_accurate"] = not screen.ids.keep.disabled
        return "capture"

    def quantity(self) -> str:
        self.screen.keep()                                   # keep the chosen photo: back on the stage
        if self.app.root.current != "stage":
            raise RuntimeError(f"capture refused: {self.screen.ids.result.text}")
        self._fill_rest()
        self.app.go("quantity")
        ids = self.screen.ids
        ids.building_no.text, ids.structure.text, ids.storeys.text = "1号楼", "砖混", "2"
        ids.length_m.text, ids.width_m.text, ids.unit_price_yuan.text = "12.5", "8.4", "1800"
        self.screen.add()
        ids.building_no.text, ids.structure.text, ids.storeys.text = "2号房", "砖木", "0"
        ids.length_m.text, ids.width_m.text = "6", "4.5x"
        self.summary["checks"]["quantity_errors"] = {k: ids[f"err_{k}"].text for k in ("storeys", "width_m")}
        self.screen.save()                               # refused on the device while 核量 is not open
        self.summary["checks"]["quantity_status"] = ids.status.text
        return "quantity"

    def _fill_rest(self) -> None:
        """Capture the other mandatory items, except one signature left for the pad."""
        from mobile_app import field

        rows = field.checklist(self.app.store, self.app.project_code, self.app.household_no, self.app.stage_code)
        self.signature_item = next((r.code for r in rows if r.kind == "signature" and r.mandatory), None)
        capture = self.app.root.get_screen("capture")
        for row in rows:
            if not row.mandatory:
                continue
            need = row.min_count - row.count - (1 if row.code == self.signature_item else 0)
            for _ in range(max(need, 0)):
                self.app.item_code = row.code
                capture.kind = row.kind
                sample = self.samples.get(row.kind, self.samples["photo"])
                why = self.app.take_capture(sample)
                if why:
                    raise RuntimeError(f"{row.code}: {why}")

    def signature(self) -> str:
        self.app.item_code = self.signature_item or next(
            (r.code for r in self.app.root.get_screen("stage").view.rows if r.kind == "signature"), "")
        self.app.go("signature")
        pad = self.screen.ids.pad
        pad.draw([(0.12, 0.35), (0.18, 0.6), (0.24, 0.38), (0.3, 0.62), (0.36, 0.4)])
        pad.draw([(0.42, 0.5), (0.5, 0.62), (0.58, 0.36), (0.66, 0.58), (0.8, 0.45)])
        return "signature"

    def stage_complete(self) -> str:
        if self.signature_item:
            self.screen.save()
            if self.app.root.current != "stage":
                raise RuntimeError(f"signature refused: {self.screen.ids.result.text}")
        else:
            self.app.go("stage")
        self.summary["checks"]["submit_enabled_when_complete"] = not self.screen.ids.submit.disabled
        self.screen.submit()
        self.summary["checks"]["note_after_submit"] = self.screen.ids.note.text
        self.summary["checks"]["submit_enabled_after_submit"] = not self.screen.ids.submit.disabled
        return "stage-complete"

    def map(self) -> str:
        self.app.go("map")
        return "map"

    def sync_waiting(self) -> str:
        self.summary["checks"]["map_info"] = self.screen.ids.info.text
        self.app.go("sync")
        self.summary["checks"]["sync_before"] = self.screen.ids.headline.text
        return "sync"

    def sync_done(self) -> str:
        self.screen.sync()
        self.summary["checks"]["sync_after"] = self.screen.ids.headline.text
        return "sync-done"


def android_files_dir() -> Path | None:
    """The app's private files folder on Android (the FileProvider shares its ``captures/``), else None."""
    from kivy.utils import platform

    if platform != "android":
        return None
    from jnius import autoclass

    context = autoclass("org.kivy.android.PythonActivity").mActivity
    return Path(context.getFilesDir().getAbsolutePath())


def main(argv: list[str] | None = None) -> int:
    """Run the app or the tour; the exit code."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    args = parse(argv)
    configure_window(args.orientation)
    if args.tour is not None:
        args.tour.mkdir(parents=True, exist_ok=True)
        data = args.data or Path(tempfile.mkdtemp(prefix="device-", dir=args.tour))
    else:
        data = args.data or android_files_dir() or Path(os.environ.get("EXPRO_MOBILE_DATA", "expro-mobile-data"))
    from mobile_app.app import FieldApp

    app = FieldApp(data, server_url=args.server, username=args.user)
    tour = None
    if args.tour is not None:
        tour = Tour(app, args.tour, args.server, args.user, args.password, args.case)
        app.bind(on_start=lambda _app: tour.start())
    app.run()
    return 1 if tour is not None and tour.failed else 0


if __name__ == "__main__":
    sys.exit(main())
