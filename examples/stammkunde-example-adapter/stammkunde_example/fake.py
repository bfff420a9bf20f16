"""A fake TinyShop: the JSON API the adapter talks to, on 127.0.0.1 in a thread."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class FakeTinyShop:
    """Holds orders and customers and serves them in pages: ``with FakeTinyShop() as shop``."""

    def __init__(self, orders: int = 8, customers: int = 4) -> None:
        start = datetime(2024, 1, 1, tzinfo=UTC)
        self.customers = [{"id": c, "email": f"c{c}@example.com",
                           "created": (start + timedelta(days=c)).isoformat(),
                           "updated": (start + timedelta(days=c)).isoformat()}
                          for c in range(1, customers + 1)]
        self.orders = [{"id": 100 + o, "customer": o % customers + 1, "email": None,
                        "created": (start + timedelta(days=o)).isoformat(),
                        "updated": (start + timedelta(days=o, hours=1)).isoformat(),
                        "total": f"{10 + o}.50", "currency": "EUR", "status": "paid"}
                       for o in range(1, orders + 1)]
        self.webhooks: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakeTinyShop:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                """Stay quiet."""

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                items = {"/orders": fake.orders, "/customers": fake.customers}.get(url.path)
                if items is None:
                    self.send_error(404)
                    return
                after, limit = int(query.get("after", 0)), int(query.get("limit", 10))
                since = query.get("since")
                rest = [i for i in items if i["id"] > after and (not since or i["updated"] > since)]
                page = rest[:limit]
                self._json({"items": page, "next": page[-1]["id"] if len(rest) > limit else None})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                fake.webhooks.append(json.loads(self.rfile.read(length))["url"])
                self._json({"ok": True})

            def _json(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        """Where the fake listens."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"
