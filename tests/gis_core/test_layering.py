"""Layering: the domain packages (gis_core, imagery, supervision) never depend on the command-line package."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ("gis_core", "imagery", "supervision")


def _modules() -> list[tuple[str, Path]]:
    out = []
    for package in DOMAIN:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out.append((".".join(parts), path))
    return out


def _is_expro(name: str | None) -> bool:
    return name is not None and (name == "expro" or name.startswith("expro."))


def test_no_domain_module_has_an_import_of_expro():
    found = []
    for module, path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            found += [f"{module}:{node.lineno} imports {n}" for n in names if _is_expro(n)]
    assert found == []


def test_importing_every_domain_module_loads_no_expro_module():
    modules = [m for m, _ in _modules()]
    script = (
        "import importlib, json, sys\n"
        f"mods = {modules!r}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'expro' or m.startswith('expro.'))))\n")
    res = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == []
