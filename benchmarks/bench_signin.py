"""Sign-in verification throughput on one thread: SIWE (EOA, full `verify`) and SIWS (full
`verify`), with eth_account's bare signature recovery as the SIWE peer."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import base58
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.backends import get_backend
from nacl.signing import SigningKey

from benchmarks.harness import Row, rate, repeat
from wallet import siwe, siws

SAMPLES = 5
SAMPLE_SECONDS = 0.5
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TARGET = ">= 1,000/s"


def _count_for(fn: Callable[[], object]) -> int:
    """How many calls fill about `SAMPLE_SECONDS`, from a short trial run."""
    trial = 10
    started = time.perf_counter()
    for _ in range(trial):
        fn()
    per_call = (time.perf_counter() - started) / trial
    return max(trial, int(SAMPLE_SECONDS / per_call))


def _throughput(
    name: str,
    fn: Callable[[], object],
    *,
    target: str = "",
    peer: str | None = None,
    notes: list[str] | None = None,
) -> Row:
    count = _count_for(fn)

    def sample() -> float:
        return rate(count, lambda: [fn() for _ in range(count)])

    samples = repeat(sample, SAMPLES)
    return Row(name, "verifications/s", samples, target=target, peer=peer, notes=notes or [])


def _siwe_case() -> tuple[str, bytes]:
    key = Account.from_key("0x" + "4c" * 32)
    text = siwe.SiweMessage(
        domain="townsquare.example",
        address=key.address,
        statement="Link this wallet to your Townsquare member.",
        uri="https://townsquare.example/link",
        chain_id=1,
        nonce=siwe.generate_nonce(),
        issued_at="2025-06-01T11:59:00.000Z",
        expiration_time="2025-06-01T12:09:00.000Z",
        resources=["https://townsquare.example/terms"],
    ).to_text()
    return text, bytes(Account.sign_message(encode_defunct(text=text), key.key).signature)


def _siws_case() -> tuple[str, bytes, str]:
    key = SigningKey(bytes(range(32)))
    address = base58.b58encode(bytes(key.verify_key)).decode()
    text = siws.SiwsMessage(
        domain="townsquare.example",
        address=address,
        statement="Link this wallet to your Townsquare member.",
        uri="https://townsquare.example/link",
        version="1",
        chain_id="solana:mainnet",
        nonce=siwe.generate_nonce(),
        issued_at="2025-06-01T11:59:00.000Z",
    ).to_text()
    return text, key.sign(text.encode()).signature, address


def collect() -> list[Row]:
    text, signature = _siwe_case()
    nonce = siwe.parse(text).nonce
    backend = type(get_backend()).__name__
    eoa_notes = [
        f"eth_keys backend: {backend} (it picks coincurve/libsecp256k1 when that is installed)",
        "full verify = parse + domain/nonce/time checks + EIP-191 hash + ECDSA recovery",
    ]
    if backend == "NativeECCBackend":
        eoa_notes.append("pure-Python secp256k1: recovery dominates; coincurve is not installed")
    siws_text, siws_signature, address = _siws_case()
    siws_nonce = siws.parse(siws_text).nonce
    defunct = encode_defunct(text=text)
    return [
        _throughput(
            "siwe_verify_eoa",
            lambda: siwe.verify(
                text, signature, domain="townsquare.example", nonce=nonce, now=NOW, chain_id=1
            ),
            target=TARGET,
            peer="eth_account_recover_message",
            notes=eoa_notes,
        ),
        _throughput(
            "eth_account_recover_message",
            lambda: Account.recover_message(defunct, signature=signature),
            notes=["recovery only, no message checks: the floor under siwe_verify_eoa"],
        ),
        _throughput("siwe_parse", lambda: siwe.parse(text)),
        _throughput(
            "siws_verify",
            lambda: siws.verify(
                siws_text,
                siws_signature,
                address=address,
                domain="townsquare.example",
                nonce=siws_nonce,
                now=NOW,
            ),
            target=TARGET,
            notes=["full verify = parse + checks + ed25519 (libsodium via PyNaCl)"],
        ),
    ]
