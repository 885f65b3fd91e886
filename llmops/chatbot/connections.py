"""The reference server's defence against slow and numerous connections (slowloris).

uvicorn times out idle keep-alive connections, but not one that sends a header line every few
seconds: 3,000 of those stayed open for minutes and, at ~22k, the server stopped answering.
`guarded_protocol` is uvicorn's h11 protocol with two bounds:

- a request-read timeout: a connection that has not delivered a whole request (headers and
  body) within `header_timeout_s` of opening, or of its previous response, is closed;
- a connection limit: beyond `max_connections` open connections a new one is closed at once
  (uvicorn's own `limit_concurrency`, set to the same number, answers 503 to requests beyond it).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from llmops.limits import Limits


class _GuardedH11Protocol(H11Protocol):
    header_timeout_s: float = Limits.server_header_timeout_s
    max_connections: int = Limits.server_max_connections
    _request_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.abort()  # connection_lost follows and forgets it
            return
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        # A whole request arrived: its time is the application's now, not the reader's.
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this keep-alive connection has the same bound
        if self.conn.their_state is h11.DONE:
            self._disarm()  # a pipelined request was already read whole

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._request_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _too_slow(self) -> None:
        self._request_timer = None
        if not self.transport.is_closing():
            self.transport.abort()


def guarded_protocol(limits: Limits | None = None) -> type[Any]:
    """The protocol class to give uvicorn (`uvicorn.Config(http=...)`) for these limits."""
    limits = limits or Limits()
    return type(
        "GuardedH11Protocol",
        (_GuardedH11Protocol,),
        {
            "header_timeout_s": limits.server_header_timeout_s,
            "max_connections": limits.server_max_connections,
        },
    )


def uvicorn_options(limits: Limits | None = None) -> dict[str, Any]:
    """The `uvicorn.Config` keyword arguments that apply these limits."""
    limits = limits or Limits()
    return {
        "http": guarded_protocol(limits),
        "limit_concurrency": limits.server_max_connections,
        "h11_max_incomplete_event_size": 64 * 1024,  # a header block bigger than this is a 400
    }
