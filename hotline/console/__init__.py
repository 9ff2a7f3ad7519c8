"""The web console for operators, office managers and administrators.

The pages live in modules of their own, each adding its routes to the one blueprint in
`common`; importing this package registers them all.
"""

from hotline.console import admin, audit_log, broadcasts, callers, desks, labels, office_pages, privacy, reports, views  # noqa: F401
from hotline.console import campaigns, waitlist  # noqa: F401
from hotline.console.common import blueprint

__all__ = ["blueprint"]
