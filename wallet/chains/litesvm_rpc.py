"""A minimal Solana JSON-RPC server over an in-process LiteSVM, for solana-py's `AsyncClient`.

It answers the methods the claim flow uses, in the shapes a validator's RPC answers them
(`context`/`value` wrappers, preflight failures as error -32002 carrying the simulation's logs,
bad signatures as -32003), so `SolanaChain(AsyncClient(rpc.url))` runs against the local chain.
LiteSVM is final at once: every status is `finalized` and the commitment asked for is ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import base58
from aiohttp import web
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from solders.transaction_status import TransactionErrorFieldless

from wallet.chains.litesvm import BLOCKHASH_VALIDITY
from wallet.spl import TOKEN_PROGRAM_ID, parse_mint, parse_token_account

VERSION = {"solana-core": "2.3.0", "feature-set": 0}

INVALID_PARAMS = -32602
PREFLIGHT_FAILURE = -32002
SIGNATURE_VERIFICATION_FAILURE = -32003


class RpcError(Exception):
    """A JSON-RPC error answer."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Any]:
        """The `error` member of the response."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def _pubkey(value: Any) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (TypeError, ValueError) as exc:
        raise RpcError(INVALID_PARAMS, f"Invalid param: {value!r} is not a pubkey") from exc


def _param(params: list[Any], index: int, default: Any = None) -> Any:
    return params[index] if len(params) > index else default


def ui_amount_string(amount: int, decimals: int) -> str:
    """`amount` base units as the validator prints it: decimal, trailing zeros trimmed."""
    text = format(Decimal(amount).scaleb(-decimals), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _failed_result(failed: FailedTransactionMetadata) -> dict[str, Any]:
    meta = failed.meta()
    return {
        "err": json.loads(failed.to_json())["err"],
        "logs": meta.logs(),
        "accounts": None,
        "unitsConsumed": meta.compute_units_consumed(),
        "returnData": None,
        "innerInstructions": None,
    }


class LiteSvmRpc:
    """Serve `svm` over JSON-RPC on 127.0.0.1 (a free port unless one is given).

    Use as `async with LiteSvmRpc(svm) as rpc: AsyncClient(rpc.url)`.
    """

    def __init__(self, svm: LiteSVM, *, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare the server; it listens from `start()` (or `async with`)."""
        self.svm = svm
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Callable[[list[Any]], Any]] = {
            "getAccountInfo": self._get_account_info,
            "getBalance": self._get_balance,
            "getBlockHeight": lambda _p: self._slot(),
            "getHealth": lambda _p: "ok",
            "getLatestBlockhash": self._get_latest_blockhash,
            "getMinimumBalanceForRentExemption": self._get_minimum_balance,
            "getSignatureStatuses": self._get_signature_statuses,
            "getSlot": lambda _p: self._slot(),
            "getTokenAccountBalance": self._get_token_account_balance,
            "getVersion": lambda _p: VERSION,
            "isBlockhashValid": self._is_blockhash_valid,
            "requestAirdrop": self._request_airdrop,
            "sendTransaction": self._send_transaction,
        }

    @property
    def url(self) -> str:
        """The HTTP endpoint."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and listen."""
        app = web.Application()
        app.router.add_post("/", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LiteSvmRpc:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            error = {"code": -32700, "message": "Parse error"}
            return web.json_response({"jsonrpc": "2.0", "error": error, "id": None})
        if isinstance(body, list):
            return web.json_response([self.dispatch(item) for item in body])
        return web.json_response(self.dispatch(body))

    def dispatch(self, call: Any) -> dict[str, Any]:
        """Answer one JSON-RPC request object."""
        call_id = call.get("id") if isinstance(call, dict) else None
        try:
            if not isinstance(call, dict) or not isinstance(call.get("method"), str):
                raise RpcError(-32600, "Invalid request")
            method = self._methods.get(call["method"])
            if method is None:
                raise RpcError(-32601, "Method not found")
            params = call.get("params") or []
            if not isinstance(params, list):
                raise RpcError(INVALID_PARAMS, "Invalid params: expected an array")
            return {"jsonrpc": "2.0", "result": method(params), "id": call_id}
        except RpcError as exc:
            return {"jsonrpc": "2.0", "error": exc.body(), "id": call_id}

    def _slot(self) -> int:
        return self.svm.get_clock().slot

    def _wrap(self, value: Any) -> dict[str, Any]:
        return {"context": {"slot": self._slot()}, "value": value}

    def _get_balance(self, params: list[Any]) -> dict[str, Any]:
        return self._wrap(self.svm.get_balance(_pubkey(_param(params, 0))) or 0)

    def _get_account_info(self, params: list[Any]) -> dict[str, Any]:
        address = _pubkey(_param(params, 0))
        encoding = (_param(params, 1) or {}).get("encoding", "base64")
        if encoding != "base64":
            raise RpcError(INVALID_PARAMS, f"Invalid params: unsupported encoding {encoding!r}")
        account = self.svm.get_account(address)
        if account is None:
            return self._wrap(None)
        value = {
            "data": [base64.b64encode(bytes(account.data)).decode(), "base64"],
            "executable": account.executable,
            "lamports": account.lamports,
            "owner": str(account.owner),
            "rentEpoch": account.rent_epoch,
            "space": len(account.data),
        }
        return self._wrap(value)

    def _get_token_account_balance(self, params: list[Any]) -> dict[str, Any]:
        account = self.svm.get_account(_pubkey(_param(params, 0)))
        if account is None or account.owner != TOKEN_PROGRAM_ID:
            raise RpcError(INVALID_PARAMS, "Invalid param: could not find account")
        try:
            token = parse_token_account(bytes(account.data))
        except ValueError as exc:
            raise RpcError(INVALID_PARAMS, "Invalid param: not a Token account") from exc
        mint = self.svm.get_account(token.mint)
        decimals = 0 if mint is None else parse_mint(bytes(mint.data)).decimals
        text = ui_amount_string(token.amount, decimals)
        value = {
            "amount": str(token.amount),
            "decimals": decimals,
            "uiAmount": float(text),
            "uiAmountString": text,
        }
        return self._wrap(value)

    def _get_latest_blockhash(self, _params: list[Any]) -> dict[str, Any]:
        blockhash = str(self.svm.latest_blockhash())
        return self._wrap(
            {"blockhash": blockhash, "lastValidBlockHeight": self._slot() + BLOCKHASH_VALIDITY}
        )

    def _is_blockhash_valid(self, params: list[Any]) -> dict[str, Any]:
        try:
            blockhash = Hash.from_string(_param(params, 0))
        except (TypeError, ValueError) as exc:
            raise RpcError(INVALID_PARAMS, "Invalid param: not a blockhash") from exc
        return self._wrap(blockhash == self.svm.latest_blockhash())

    def _get_minimum_balance(self, params: list[Any]) -> int:
        size = _param(params, 0)
        if not isinstance(size, int) or size < 0:
            raise RpcError(INVALID_PARAMS, "Invalid param: expected a data length")
        return self.svm.minimum_balance_for_rent_exemption(size)

    def _request_airdrop(self, params: list[Any]) -> str:
        lamports = _param(params, 1)
        if not isinstance(lamports, int) or lamports <= 0:
            raise RpcError(INVALID_PARAMS, "Invalid param: expected lamports")
        result = self.svm.airdrop(_pubkey(_param(params, 0)), lamports)
        if isinstance(result, FailedTransactionMetadata):
            raise RpcError(-32603, f"airdrop failed: {result.err()}")
        return str(result.signature())

    def _get_signature_statuses(self, params: list[Any]) -> dict[str, Any]:
        signatures = _param(params, 0)
        if not isinstance(signatures, list):
            raise RpcError(INVALID_PARAMS, "Invalid params: expected an array of signatures")
        return self._wrap([self._status(s) for s in signatures])

    def _status(self, text: Any) -> dict[str, Any] | None:
        try:
            signature = Signature.from_string(text)
        except (TypeError, ValueError) as exc:
            raise RpcError(INVALID_PARAMS, f"Invalid param: {text!r} is not a signature") from exc
        result = self.svm.get_transaction(signature)
        if result is None:
            return None
        err = (
            json.loads(result.to_json())["err"]
            if isinstance(result, FailedTransactionMetadata)
            else None
        )
        return {
            "slot": self._slot(),
            "confirmations": None,
            "err": err,
            "status": {"Ok": None} if err is None else {"Err": err},
            "confirmationStatus": "finalized",
        }

    def _send_transaction(self, params: list[Any]) -> str:
        config = _param(params, 1) or {}
        tx = self._decode_transaction(_param(params, 0), config.get("encoding", "base58"))
        if not config.get("skipPreflight", False):
            simulated = self.svm.simulate_transaction(tx)
            if isinstance(simulated, FailedTransactionMetadata):
                raise self._preflight_error(simulated)
        self.svm.send_transaction(tx)
        return str(tx.signatures[0])

    @staticmethod
    def _decode_transaction(data: Any, encoding: str) -> VersionedTransaction:
        if not isinstance(data, str) or encoding not in ("base58", "base64"):
            raise RpcError(INVALID_PARAMS, "Invalid params: expected an encoded transaction")
        try:
            if encoding == "base64":
                raw = base64.b64decode(data, validate=True)
            else:
                raw = base58.b58decode(data)
            return VersionedTransaction.from_bytes(raw)
        except (binascii.Error, ValueError) as exc:
            raise RpcError(INVALID_PARAMS, f"invalid transaction: {exc}") from exc

    @staticmethod
    def _preflight_error(failed: FailedTransactionMetadata) -> RpcError:
        if failed.err() == TransactionErrorFieldless.SignatureFailure:
            return RpcError(
                SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure"
            )
        return RpcError(
            PREFLIGHT_FAILURE,
            f"Transaction simulation failed: {failed.err()}",
            _failed_result(failed),
        )
