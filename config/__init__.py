"""Settings read from the environment; no Flask, no database."""

from config.settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError"]
