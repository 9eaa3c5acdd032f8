"""Run anvil (Foundry's local EVM node) as a child process on loopback.

The gateway's sandbox and the tests use it as their EVM chain. The binary comes from the npm
package ``@foundry-rs/anvil`` in the repository's ``node_modules``.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic
from eth_account.signers.local import LocalAccount

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEFAULT_CHAIN_ID = 31337

_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class AnvilError(RuntimeError):
    """anvil is missing, did not start, or answered an RPC call with an error."""


def _platform_package() -> str:
    system = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(sys.platform, "")
    arch = _ARCHES.get(platform.machine().lower(), platform.machine().lower())
    return f"anvil-{system}-{arch}"


def find_anvil(root: Path = REPO_ROOT) -> Path:
    """Locate the anvil binary.

    Looks in ``node_modules/@foundry-rs/anvil-<os>-<arch>/bin`` under ``root`` first, then on
    ``PATH``.

    Args:
        root: repository root holding ``node_modules``.

    Returns:
        The path of an executable anvil.

    Raises:
        AnvilError: when neither place has one.
    """
    name = "anvil.exe" if sys.platform == "win32" else "anvil"
    bundled = root / "node_modules" / "@foundry-rs" / _platform_package() / "bin" / name
    if bundled.is_file():
        return bundled
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise AnvilError(
        f"anvil not found at {bundled} nor on PATH: install the node tooling with `npm ci` "
        "(`make test` does it)"
    )


@cache
def _dev_accounts(mnemonic: str, count: int) -> tuple[LocalAccount, ...]:
    seed = seed_from_mnemonic(mnemonic, "")
    keys = (key_from_seed(seed, f"m/44'/60'/0'/0/{i}") for i in range(count))
    return tuple(Account.from_key(key) for key in keys)


def dev_accounts(count: int = 10, mnemonic: str = DEV_MNEMONIC) -> list[LocalAccount]:
    """Derive the funded dev accounts anvil creates from ``mnemonic`` (BIP-44 ``m/44'/60'/0'/0/i``).

    Args:
        count: how many accounts.
        mnemonic: the BIP-39 phrase; anvil's well-known one by default.

    Returns:
        Local accounts (address and private key), in anvil's order.
    """
    return list(_dev_accounts(mnemonic, count))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def death_signal_launcher() -> tuple[str, ...]:
    """The command that runs anvil so that it gets SIGTERM when the thread that started it
    ends, or nothing where there is none (outside Linux, or without util-linux's `setpriv`).

    `stop()` and the `atexit` hook end anvil when this process exits normally, but not when it
    is killed outright (SIGKILL, the kernel out of memory): anvil would live on and keep its
    port, and a gateway started again on a fixed `anvil_port` would fail. The signal follows
    the starting *thread* (the kernel's rule): anvil is started on the caller's thread, never on
    a worker's.
    """
    setpriv = shutil.which("setpriv")
    if not sys.platform.startswith("linux") or setpriv is None:
        return ()
    return (setpriv, "--pdeathsig", "TERM", "--")


class Anvil:
    """One anvil process on 127.0.0.1, as a sync or async context manager.

    ``with Anvil() as node:`` (or ``async with``) starts it and waits until ``eth_chainId``
    answers; leaving the block terminates it. ``rpc_url``, ``chain_id`` and ``accounts`` (the
    funded dev accounts with their private keys) describe the running node.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        chain_id: int = DEFAULT_CHAIN_ID,
        accounts: int = 10,
        mnemonic: str = DEV_MNEMONIC,
        binary: Path | None = None,
        startup_timeout: float = 15.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.chain_id = chain_id
        self.mnemonic = mnemonic
        self.account_count = accounts
        self.startup_timeout = startup_timeout
        self._requested_port = port
        self._binary = binary
        self._extra_args = extra_args
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self.port: int | None = None

    @property
    def rpc_url(self) -> str:
        """HTTP JSON-RPC endpoint of the running node."""
        if self.port is None:
            raise AnvilError("anvil is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def accounts(self) -> list[LocalAccount]:
        """The funded dev accounts, in anvil's order."""
        return dev_accounts(self.account_count, self.mnemonic)

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start anvil and block until it answers ``eth_chainId``.

        Raises:
            AnvilError: when the binary is missing, exits early, or does not answer in time.
        """
        if self._process is not None:
            raise AnvilError("anvil is already started")
        self._spawn()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _spawn(self) -> None:
        binary = self._binary or find_anvil()
        self.port = self._requested_port or _free_port()
        args = [
            str(binary),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.account_count),
            "--mnemonic", self.mnemonic,
            "--quiet",
            *self._extra_args,
        ]  # fmt: skip
        # A file rather than a pipe: nobody drains it while anvil runs, and a full pipe would
        # block the node; it is read only to explain a failed start. It lives as long as the
        # process, so stop() closes it rather than a with-block.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [*death_signal_launcher(), *args],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        atexit.register(self.stop)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process is None or self._process.poll() is not None:
                raise AnvilError(f"anvil exited during start-up:\n{self._read_log()}")
            try:
                answer = int(self.rpc("eth_chainId", timeout=1.0), 16)
            except (OSError, ValueError, AnvilError):
                if time.monotonic() > deadline:
                    raise AnvilError(
                        f"anvil did not answer on {self.rpc_url} within "
                        f"{self.startup_timeout:g} s:\n{self._read_log()}"
                    ) from None
                time.sleep(0.05)
                continue
            if answer != self.chain_id:
                raise AnvilError(f"port {self.port} answers chain id {answer}, not ours")
            return

    def _read_log(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        text: str = self._log.read().decode(errors="replace")
        return text[-4000:]

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 5 s) and reap it. Idempotent."""
        process, self._process = self._process, None
        self.port = None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            atexit.unregister(self.stop)
        if self._log is not None:
            self._log.close()
            self._log = None

    def rpc(self, method: str, params: list[Any] | None = None, timeout: float = 10.0) -> Any:
        """Make one blocking JSON-RPC call (handy for ``evm_*`` and ``anvil_*`` methods).

        Raises:
            AnvilError: when the node answers with a JSON-RPC error.
            OSError: when the node cannot be reached.
        """
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        request = urllib.request.Request(
            self.rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
        if "error" in reply:
            raise AnvilError(f"{method}: {reply['error']}")
        return reply["result"]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        # Spawn in the caller's thread; only the polling wait runs in a worker thread so that the
        # event loop keeps serving while anvil boots.
        if self._process is not None:
            raise AnvilError("anvil is already started")
        self._spawn()
        try:
            await asyncio.to_thread(self._wait_ready)
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
