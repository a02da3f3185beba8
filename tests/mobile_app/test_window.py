"""The field app's bundled CJK font renders Chinese as glyphs, not boxes, in Kivy's own text renderer (issue 12).

Run in a subprocess: Kivy allows one window per process, and SDL is forced offscreen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FONT = ROOT / "mobile_app" / "fonts" / "ExproSansSC-Regular.otf"

PROBE = r"""
import json, sys
from kivy.core.window import Window  # noqa: F401  (a GL context for the textures)
from kivy.core.text import Label as CoreLabel
def render(text, font):
    lab = CoreLabel(text=text, font_size=48, font_name=font)
    lab.refresh()
    tex = lab.texture
    return tex.size, bytes(tex.pixels)
out = {}
font = sys.argv[1]
for ch in "征收环节提交已同步":
    size, px = render(ch, font)
    out[ch] = [size, sum(1 for a in px[3::4] if a > 128), hash(px)]
size, px = render("征", "Roboto")
out["roboto_zheng"] = [size, sum(1 for a in px[3::4] if a > 128), hash(px)]
size, px = render("收", "Roboto")
out["roboto_shou"] = [size, sum(1 for a in px[3::4] if a > 128), hash(px)]
print("RESULT" + json.dumps(out))
"""


def test_chinese_renders_as_glyphs_not_boxes():
    assert FONT.is_file()
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1",
               PYTHONHASHSEED="0")
    res = subprocess.run([sys.executable, "-c", PROBE, str(FONT)], env=env, capture_output=True, text=True,
                         timeout=60)
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT"))
    out = json.loads(line[len("RESULT"):])
    ours = {ch: v for ch, v in out.items() if not ch.startswith("roboto")}
    # Roboto has no CJK glyphs: every character is the same notdef box
    assert out["roboto_zheng"][2] == out["roboto_shou"][2]
    # the bundled font gives each character its own glyph, none of them that box, each with ink
    assert len({v[2] for v in ours.values()}) == len(ours)
    assert all(v[2] != out["roboto_zheng"][2] for v in ours.values())
    assert all(v[1] > 50 for v in ours.values())
