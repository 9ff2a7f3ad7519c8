"""Imports point inward, and the edges change nothing except through the application layer.

Read from the source with `ast`, nothing is imported: a new module that imports the wrong way, or
an edge that calls a domain service that writes (instead of the action that authorises, notifies
and audits it), fails here with its file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("accounts", "actions", "booking", "config", "database", "hotline", "ivr_flows", "notifications")

# Which of our packages each package may import (itself always).
MAY_IMPORT = {
    "config": set(),
    "database": set(),
    "booking": {"database"},
    "ivr_flows": set(),
    # A manager's offices are the domain's offices: the users-offices table points at them.
    "accounts": {"booking", "database"},
    "notifications": {"booking", "database"},
    "actions": {"accounts", "booking", "database", "notifications"},
    "hotline": {"accounts", "actions", "booking", "config", "database", "ivr_flows", "notifications"},
}
# What no package below the edge may import, whatever else it may; Twilio's SMS client lives in its sender.
WEB_AND_TELEPHONY = ("flask", "flask_babel", "flask_login", "flask_wtf", "werkzeug", "twilio", "gunicorn")
ADAPTERS = {("notifications/senders.py", "twilio"), ("notifications/calls.py", "twilio")}

# Domain modules whose functions change state: the edges reach them through `actions` only.
WRITERS = {
    "booking.bookings": {"hold_seat", "release_hold", "confirm_hold", "book", "cancel", "move", "check_in",
                         "mark_served", "mark_no_show"},
    "booking.citizens": {"set_broadcast_opt_out"},
    "booking.waitlist": {"join", "offer_seats", "accept", "give_up"},
    "notifications.notices": None,  # every function queues a text
}
# The edges: everything a person reaches (the scheduler's jobs and the CLI's set-up commands are not yet
# actions of a person, see the README).
EDGES = ("hotline/console", "hotline/api", "hotline/ivr", "hotline/sms_webhooks.py", "hotline/sms_replies.py")


def _modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[int, str, set[str]]]:
    """(line, module, names) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, set()
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            module = node.module
            if node.level:
                base = path.relative_to(ROOT).with_suffix("").parts[:-node.level]
                module = ".".join((*base, module))
            yield node.lineno, module, {alias.name for alias in node.names}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_each_package_imports_only_inward(package: str) -> None:
    wrong = []
    for path in _modules(package):
        for line, module, _names in _imports(path):
            top = module.split(".")[0]
            if top in OURS and top != package and top not in MAY_IMPORT[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            adapter = (str(path.relative_to(ROOT)), top) in ADAPTERS
            if package != "hotline" and top in WEB_AND_TELEPHONY and not adapter:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module} below the edge")
    assert wrong == []


def _edge_files() -> Iterator[Path]:
    for edge in EDGES:
        where = ROOT / edge
        yield from (sorted(where.rglob("*.py")) if where.is_dir() else [where])


def test_edges_change_nothing_except_through_actions() -> None:
    wrong = []
    for path in _edge_files():
        for line, module, names in _imports(path):
            for writer, functions in WRITERS.items():
                package, _, leaf = writer.rpartition(".")
                if module == writer and (functions is None or names & functions):
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {sorted(names) or module} from {writer}")
                elif module == package and leaf in names:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {writer} itself")
    assert wrong == []
