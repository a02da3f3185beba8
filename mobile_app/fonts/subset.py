"""Make the app's bundled CJK font: a subset of Noto Sans CJK SC (SIL OFL 1.1), Simplified Chinese face.

``python -m mobile_app.fonts.subset [--source TTC] [--full]`` writes ``mobile_app/fonts/ExproSansSC-Regular.otf``:
GB 2312 level 1 (the 3,755 most common characters), its symbol rows, ASCII and Latin-1, and every character
that the app's, the server's and the synthetic demo's sources contain (stage and item names, messages,
prompts, demo names). ``--full`` adds GB 2312 level 2 (6,763 characters in all, about twice the size). The
collection's face 2 is the Simplified Chinese one; Kivy's SDL2 text provider opens only the first face of a
``.ttc``, which is the Japanese one, hence a standalone file. The family is renamed (the OFL keeps modified
versions from presenting themselves under the original name); copyright and licence stay in the name table.
Needs fontTools (installed with matplotlib); run on a machine that has fonts-noto-cjk.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FONT_FILE = HERE / "ExproSansSC-Regular.otf"
SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SC_FACE = 2
FAMILY = "Expro Sans SC"
#: Folders whose source texts the app may show.
TEXT_SOURCES = ("mobile_app", "supervision", "api", "expro/synthetic")


def gb2312(rows: range) -> set[str]:
    """The characters of GB 2312 rows ``rows`` (0xA1-0xA9 symbols, 0xB0-0xD7 level 1, 0xD8-0xF7 level 2)."""
    out = set()
    for hi in rows:
        for lo in range(0xA1, 0xFF):
            try:
                out.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return out


def source_characters(root: Path = ROOT) -> set[str]:
    """Every non-ASCII character in the app's, the server's and the demo's .py, .kv and .toml files."""
    chars: set[str] = set()
    for folder in TEXT_SOURCES:
        for path in (root / folder).rglob("*"):
            if path.suffix in (".py", ".kv", ".toml") and path.is_file():
                chars |= {c for c in path.read_text(encoding="utf-8") if ord(c) > 0x7F}
    return chars


def characters(*, full: bool = False) -> set[str]:
    """What the subset covers."""
    chars = gb2312(range(0xA1, 0xAA)) | gb2312(range(0xB0, 0xD8)) | source_characters()
    if full:
        chars |= gb2312(range(0xD8, 0xF8))
    chars |= {chr(c) for c in range(0x20, 0x7F)} | {chr(c) for c in range(0xA0, 0x100)}
    chars |= set("\u3000、。〈〉《》「」『』【】〔〕（）［］｛｝，．：；！？～—…·￥％＋－×÷＝＜＞")
    return {c for c in chars if c.isprintable() or c == "\u3000"}


def make_subset(source: Path = SOURCE, target: Path = FONT_FILE, *, full: bool = False) -> int:
    """Write the subset font; its size in bytes."""
    from fontTools import subset

    options = subset.Options()
    options.font_number = SC_FACE
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.hinting = False
    font = subset.load_font(str(source), options, dontLoadGlyphNames=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(ord(c) for c in characters(full=full)))
    subsetter.subset(font)
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 3, 4, 6, 16, 17, 21, 22):
            names.removeNames(nameID=record.nameID)
    names.setName(FAMILY, 1, 3, 1, 0x409)
    names.setName("Regular", 2, 3, 1, 0x409)
    names.setName(f"{FAMILY} Regular (subset of Noto Sans CJK SC)", 3, 3, 1, 0x409)
    names.setName(f"{FAMILY} Regular", 4, 3, 1, 0x409)
    names.setName("ExproSansSC-Regular", 6, 3, 1, 0x409)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = ["ExproSansSC-Regular"]
        top = cff.topDictIndex[0]
        top.FullName, top.FamilyName = f"{FAMILY} Regular", FAMILY
    target.parent.mkdir(parents=True, exist_ok=True)
    subset.save_font(font, str(target), options)
    return target.stat().st_size


def main(argv: list[str] | None = None) -> int:
    """Command line; 0 on success, 2 when the source font is missing."""
    parser = argparse.ArgumentParser(prog="python -m mobile_app.fonts.subset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=SOURCE, help="Noto Sans CJK collection (.ttc)")
    parser.add_argument("--output", type=Path, default=FONT_FILE)
    parser.add_argument("--full", action="store_true", help="add GB 2312 level 2 (about twice the size)")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        parser.exit(2, f"未找到字体 / font not found: {args.source} (apt-get install fonts-noto-cjk)\n")
    size = make_subset(args.source, args.output, full=args.full)
    print(f"wrote {args.output} ({size / 1024**2:.2f} MiB, {len(characters(full=args.full))} characters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
