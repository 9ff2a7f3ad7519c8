"""The web and telephony edge: the only package that imports Flask."""

from hotline.app import create_app

__all__ = ["create_app"]
