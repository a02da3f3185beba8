"""Capture of a photo, video or document for the open item, with the position and its accuracy shown.

On the desktop the file comes from a Kivy FileChooser; on Android from the camera app through an intent
whose output is a FileProvider URI (plyer's camera breaks on Android 7+). The capture is refused when the
position's accuracy is worse than the project's limit (views.position_check, the gate again in field).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.lang import Builder
from kivy.utils import platform

from mobile_app import views
from mobile_app.screens.common import GREEN, RED, FieldScreen

Builder.load_file(str(Path(__file__).with_name("capture.kv")))

REQUEST_CAMERA = 0x4558
AUTHORITY = "cn.expro.field.fileprovider"          # android/provider.xml


def android_camera(target: Path, video: bool, done: Callable[[Path | None], None]) -> None:
    """Start the camera app writing into ``target`` (under the app's files, shared by the FileProvider)."""
    from android import activity
    from jnius import autoclass, cast

    intent_cls = autoclass("android.content.Intent")
    media_store = autoclass("android.provider.MediaStore")
    provider = autoclass("androidx.core.content.FileProvider")
    java_file = autoclass("java.io.File")
    context = autoclass("org.kivy.android.PythonActivity").mActivity
    target.parent.mkdir(parents=True, exist_ok=True)
    uri = provider.getUriForFile(context, AUTHORITY, java_file(str(target)))
    intent = intent_cls(media_store.ACTION_VIDEO_CAPTURE if video else media_store.ACTION_IMAGE_CAPTURE)
    intent.putExtra(media_store.EXTRA_OUTPUT, cast("android.os.Parcelable", uri))
    intent.addFlags(intent_cls.FLAG_GRANT_WRITE_URI_PERMISSION | intent_cls.FLAG_GRANT_READ_URI_PERMISSION)

    def on_result(request: int, result: int, _data: Any) -> None:
        if request != REQUEST_CAMERA:
            return
        activity.unbind(on_activity_result=on_result)
        done(target if result == -1 and target.is_file() and target.stat().st_size else None)   # RESULT_OK

    activity.bind(on_activity_result=on_result)
    context.startActivityForResult(intent, REQUEST_CAMERA)


class CaptureScreen(FieldScreen):
    """Choose or take the file, see the position against the limit, keep the capture."""

    def refresh(self) -> None:
        """Show the item, the position check and whether capturing is allowed."""
        app = self.app
        if not app.item_code:
            return
        items = {i.code: i for i in app.store.items(app.project_code, app.household_no, app.stage_code)}
        item = items[app.item_code]
        self.kind = item.kind
        self.ids.bar.title = f"采集 · {item.name_zh}（{views.KIND_ZH.get(item.kind, item.kind)}）"
        camera = platform == "android" and item.kind in ("photo", "video")
        self.ids.camera.opacity, self.ids.camera.disabled = (1, False) if camera else (0, True)
        self.ids.camera.size_hint_x, self.ids.camera.width = (1, 0) if camera else (None, 0)
        self.show_position()

    def show_position(self) -> None:
        """The last fix against the project's limit (views.position_check)."""
        app = self.app
        limit = app.store.case(app.project_code, app.household_no).accuracy_limit_m
        check = views.position_check(app.fix, self.kind, limit)
        self.ids.position.text = check.text
        self.ids.position.color = GREEN if check.ok else RED
        self.ids.keep.disabled = not check.ok
        self.position_ok = check.ok

    def set_fix(self, lon: str, lat: str, accuracy: str) -> None:
        """A fix typed in (desktop) or given by the GPS."""
        try:
            self.app.fix = views.Fix(float(lon), float(lat), float(accuracy), source="manual")
        except ValueError:
            self.ids.result.text = "经度、纬度和精度须为数字"
            return
        self.ids.result.text = ""
        self.show_position()

    def keep(self, path: str | Path | None = None) -> None:
        """Keep the chosen (or taken) file as a capture of the item."""
        chosen = path or (self.ids.chooser.selection[0] if self.ids.chooser.selection else None)
        if not chosen:
            self.ids.result.text = "请先选择文件"
            return
        why = self.app.take_capture(chosen)
        self.ids.result.text = why and f"未采集：{why}"
        self.ids.result.color = RED
        if not why:
            self.app.go("stage")

    def camera(self) -> None:
        """Take the photo or video with the camera app (Android only)."""
        if platform != "android":
            return
        folder = self.app.store.files_dir / ".camera"     # files/captures/: shared by the FileProvider
        video = self.kind == "video"
        target = folder / f"{uuid.uuid4()}{'.mp4' if video else '.jpg'}"
        android_camera(target, video, lambda p: self.keep(p) if p else None)

