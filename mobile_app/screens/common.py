"""Widgets every screen uses: the title bar, wrapping labels, list rows; rules in common.kv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.lang import Builder
from kivy.properties import BooleanProperty, ListProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen

Builder.load_file(str(Path(__file__).with_name("common.kv")))

RED = (0.78, 0.16, 0.16, 1)
GREEN = (0.12, 0.55, 0.25, 1)
GREY = (0.45, 0.45, 0.45, 1)
INK = (0.1, 0.1, 0.1, 1)
AMBER = (0.75, 0.45, 0.0, 1)


class TitleBar(BoxLayout):
    """The bar on top: back, the title, and a button to the sync screen."""

    title = StringProperty("")
    back = StringProperty("")


class WrapLabel(Label):
    """A label that wraps to its width and grows to its text."""

    color = ListProperty(INK)


class RowButton(Button):
    """A list row that can be pressed."""

    locked = BooleanProperty(False)


class FieldScreen(Screen):
    """A screen that can be refreshed from the store."""

    @property
    def app(self) -> Any:
        """The running FieldApp."""
        return App.get_running_app()

    def refresh(self) -> None:
        """Show what the store holds now."""
