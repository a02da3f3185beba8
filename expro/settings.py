"""Settings read from the environment (prefix ``EXPRO_``), only at the edges (CLI, API)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    """The project-local state directory: ``.expro/`` next to the source tree or the current directory."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists():
        return here / ".expro"
    return Path.cwd() / ".expro"


class Settings(BaseSettings):
    """Expro configuration; every field can be set as ``EXPRO_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="EXPRO_", extra="ignore")

    database_url: str | None = None
    home: Path = _default_home()
    secret_key: str | None = None
    token_minutes: int = 12 * 60
    host: str = "127.0.0.1"
    port: int = 8000
    upload_max_bytes: int = 20 * 1024**3
    pg_port: int | None = None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    return Settings()
