"""Background jobs, minimal form: a historic sync runs in a daemon thread of the web process.

huey (DESIGN.md, "Jobs and scale") replaces this with a queued task so syncs survive restarts and
run on workers; the signature ``schedule_sync(shop_name)`` stays. A sync interrupted by a restart
is not lost either way: ``sync_shop`` resumes from its stored cursor on the next run.
"""

from __future__ import annotations

import logging
import threading

from stammkunde.app.context import AppContext
from stammkunde.plugins.ingest import sync_shop

log = logging.getLogger(__name__)


def schedule_sync(shop_name: str, ctx: AppContext | None = None) -> threading.Thread:
    """Start the historic (or resumed) sync of a shop in the background; return its thread."""
    context = ctx or AppContext()

    def run() -> None:
        try:
            result = sync_shop(context.sessions, context.plugins, shop_name,
                               secret_key=context.settings.secret_key)
            log.info("sync of shop %s finished: %s", shop_name,
                     {k: vars(v) for k, v in result.stats.items()})
        except Exception:
            log.exception("sync of shop %s failed; it resumes on the next run", shop_name)

    thread = threading.Thread(target=run, name=f"sync-{shop_name}", daemon=True)
    thread.start()
    return thread
