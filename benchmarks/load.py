"""A loopback load generator: `python -m benchmarks.load URL START COUNT CONCURRENCY`.

Posts COUNT distinct group-message updates to the webhook over CONCURRENCY keep-alive
connections (as Telegram does, up to the webhook's `max_connections`) and prints updates per
second.
It runs as its own process so that its CPU time is not the gateway's, and it speaks HTTP/1.1
on raw sockets with pre-built requests: a client library would cost as much CPU per request
as the server's whole HTTP layer, on a machine whose cores both sides share.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import uvloop

# The webhook secret of `benchmarks.serve_gateway` (kept here: this process imports nothing heavy).
SECRET = "bench-secret"
CHAT = {"id": -1009000000001, "type": "supergroup", "title": "Bench"}
# Members of the bench group: update N is written by member N mod MEMBERS.
MEMBERS = 500


def body(update_id: int) -> bytes:
    user = 10_000 + update_id % MEMBERS
    return orjson.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 1_760_000_000 + update_id // 100,
                "chat": CHAT,
                "from": {"id": user, "is_bot": False, "first_name": f"Member {user}"},
                "text": f"message number {update_id} with some words in it",
            },
        }
    )


def request(host: str, path: str, payload: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


class Client(asyncio.Protocol):
    """One keep-alive connection: sends the next request as soon as a response is complete."""

    def __init__(self, requests: list[bytes], done: asyncio.Future[None]) -> None:
        self.requests = requests
        self.done = done
        self.buffer = b""
        self.transport: Any = None
        self.failures = 0
        self.sent = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._next()

    def _next(self) -> None:
        if not self.requests:
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        self.sent += 1
        self.transport.write(self.requests.pop())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if head[0].split(" ", 2)[1] != "200":
                self.failures += 1
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if self.requests:
                self.done.set_exception(ConnectionError(f"connection lost: {exc}"))
            else:
                self.done.set_result(None)


async def run(url: str, start: int, count: int, concurrency: int) -> float:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    payloads = [request(parts.netloc, parts.path, body(start + i)) for i in range(count)]
    # Each connection takes every `concurrency`-th update, in update order (popped from the end).
    shares = [payloads[i::concurrency][::-1] for i in range(concurrency)]
    loop = asyncio.get_running_loop()
    clients: list[Client] = []
    waits: list[asyncio.Future[None]] = []
    started = time.perf_counter()
    for share in shares:
        done: asyncio.Future[None] = loop.create_future()
        _, client = await loop.create_connection(lambda s=share, d=done: Client(s, d), host, port)
        clients.append(client)
        waits.append(done)
    await asyncio.gather(*waits)
    elapsed = time.perf_counter() - started
    failures = sum(c.failures for c in clients)
    if failures:
        msg = f"{failures} of {count} updates were not acknowledged"
        raise SystemExit(msg)
    return count / elapsed


if __name__ == "__main__":
    url, start, count, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(f"{uvloop.run(run(url, start, count, conc)):.1f}")
