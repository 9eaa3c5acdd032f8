"""Start-up of `townsquare sandbox`: a whole new process, on a new data directory each time.

Three figures per run, from the moment the process is spawned:
- healthz: `GET /healthz` first answers 200 (the figure the target is about);
- first reply: a `/start` sent through the web chat right after that is answered by the bot
  (the whole path: sandbox, webhook delivery, dispatcher, Bot API call back to the sandbox);
- CPU: the seconds of CPU the process (with its migrations child) had used when healthz
  answered 200, steadier than the wall clock when the machine is shared.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.harness import Row

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5
TIMEOUT = 120.0


@dataclass
class Sample:
    healthz: float
    reply: float
    cpu: float


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu(pid: int) -> float:
    """User plus system CPU seconds of a running process and its finished children (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def until(
    started: float, check: Callable[[], bool], process: subprocess.Popen[bytes], what: str
) -> float:
    """Seconds since `started` until `check()` holds; fails if the process dies first, or
    after `TIMEOUT` seconds of waiting."""
    deadline = time.perf_counter() + TIMEOUT
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            msg = f"townsquare sandbox exited with {process.returncode} before {what}"
            raise RuntimeError(msg)
        try:
            if check():
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.01)
    msg = f"{what}: not within {TIMEOUT}s"
    raise TimeoutError(msg)


def send_start(http: httpx.Client) -> tuple[int, int]:
    """Sends `/start` in a new private chat; returns the chat's and the bot's ids."""
    user = http.post("/users", json={"first_name": "Bench"}).raise_for_status().json()
    chat = http.post(f"/users/{user['id']}/private").raise_for_status().json()
    http.post(
        f"/chats/{chat['id']}/messages", json={"from_id": user["id"], "text": "/start"}
    ).raise_for_status()
    return int(chat["id"]), int(http.get("/bot").raise_for_status().json()["id"])


def bot_answered(http: httpx.Client, chat_id: int, bot_id: int) -> bool:
    messages = http.get(f"/chats/{chat_id}/messages").raise_for_status().json()
    return any(m.get("from", {}).get("id") == bot_id for m in messages)


def one_run() -> Sample:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "TOWNSQUARE_DATA_DIR": tmp}
        # The clients exist before the spawn: a client made per poll builds a TLS context each
        # time (some 20 ms of CPU), which competed with the process being measured.
        with (
            httpx.Client(base_url=base, timeout=5) as probe,
            httpx.Client(base_url=f"{base}/sandbox/ui", timeout=5) as http,
        ):
            started = time.perf_counter()
            process = subprocess.Popen(
                [str(ROOT / ".venv/bin/townsquare"), "sandbox", "--port", str(port)],
                cwd=tmp,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                healthz = until(
                    started,
                    lambda: probe.get("/healthz").status_code == 200,
                    process,
                    "healthz 200",
                )
                cpu = process_cpu(process.pid)
                chat_id, bot_id = send_start(http)
                reply = until(
                    started, lambda: bot_answered(http, chat_id, bot_id), process, "reply to /start"
                )
            finally:
                process.terminate()
                process.wait(timeout=20)
    return Sample(healthz=healthz, reply=reply, cpu=cpu)


def collect() -> list[Row]:
    samples = [one_run() for _ in range(RUNS)]
    return [
        Row(
            name="sandbox start-up to healthz",
            unit="s",
            samples=[s.healthz for s in samples],
            higher_is_better=False,
            target="< 3 s",
            notes=["a new process and data directory per run; bytecode precompiled"],
        ),
        Row(
            name="sandbox start-up to first reply",
            unit="s",
            samples=[s.reply for s in samples],
            higher_is_better=False,
            notes=["/start sent through the web chat right after healthz, until the bot answers"],
        ),
        Row(
            name="sandbox start-up CPU at healthz",
            unit="s",
            samples=[s.cpu for s in samples],
            higher_is_better=False,
        ),
    ]
