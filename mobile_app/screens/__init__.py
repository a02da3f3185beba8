"""The app's screens, a ``.py`` + ``.kv`` pair each (the ``.kv`` loaded relative to its ``.py``)."""

from __future__ import annotations

import importlib

from kivy.uix.screenmanager import Screen

CLASSES = {"signin": "SignInScreen", "cases": "CasesScreen", "case": "CaseScreen", "stage": "StageScreen",
           "capture": "CaptureScreen", "quantity": "QuantityScreen", "signature": "SignatureScreen",
           "map": "MapScreen", "sync": "SyncScreen"}


def make(name: str) -> Screen:
    """Build screen ``name``."""
    module = importlib.import_module(f"mobile_app.screens.{name}")
    screen: Screen = getattr(module, CLASSES[name])(name=name)
    return screen
