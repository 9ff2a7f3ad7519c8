"""Marks user-facing strings for extraction without making the domain depend on Babel.

Messages are translated at the edge (web, IVR, CLI) in the reader's language; the domain only
tags them so that `pybabel extract` finds them.
"""


def N_(message: str) -> str:
    """Return the message unchanged; the marker is what Babel's extractor looks for."""
    return message
