"""LiteSvmRpc: the JSON-RPC shapes, read back by solana-py's AsyncClient and by raw requests."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import base58
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction
from solders.transaction_status import TransactionConfirmationStatus

from wallet.chains.litesvm import LiteSvmChain
from wallet.chains.litesvm_rpc import LiteSvmRpc, ui_amount_string
from wallet.spl import TOKEN_PROGRAM_ID


@dataclass
class Node:
    local: LiteSvmChain
    rpc: LiteSvmRpc
    client: AsyncClient
    http: aiohttp.ClientSession
    payer: Keypair

    async def call(self, method: str, params: list[Any] | None = None) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params or []}
        return await self.post(body)

    async def post(self, body: Any) -> Any:
        data = body if isinstance(body, bytes) else None
        kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
        async with self.http.post(self.rpc.url, **kwargs) as resp:
            assert resp.status == 200
            return await resp.json()


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    local = LiteSvmChain(LiteSVM())
    payer = Keypair()
    local.airdrop(payer.pubkey(), 10**9)
    async with (
        LiteSvmRpc(local.svm) as rpc,
        AsyncClient(rpc.url) as client,
        aiohttp.ClientSession() as http,
    ):
        yield Node(local, rpc, client, http, payer)


def _transfer(node: Node, lamports: int, payer: Keypair | None = None) -> Transaction:
    payer = payer or node.payer
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Pubkey.new_unique(), lamports=lamports)
    )
    blockhash = node.local.svm.latest_blockhash()
    return Transaction(
        [payer], Message.new_with_blockhash([ix], payer.pubkey(), blockhash), blockhash
    )


async def test_health_version_slot(node: Node) -> None:
    assert node.rpc.url.startswith("http://127.0.0.1:")
    assert await node.client.is_connected()
    assert (await node.client.get_version()).value.solana_core
    assert (await node.client.get_slot()).value == node.local.slot()
    assert (await node.client.get_block_height()).value == node.local.slot()


async def test_minimum_balance(node: Node) -> None:
    resp = await node.client.get_minimum_balance_for_rent_exemption(165)
    assert resp.value == node.local.svm.minimum_balance_for_rent_exemption(165)


async def test_account_info(node: Node) -> None:
    assert (await node.client.get_account_info(Pubkey.new_unique())).value is None
    program = (await node.client.get_account_info(TOKEN_PROGRAM_ID)).value
    stored = node.local.svm.get_account(TOKEN_PROGRAM_ID)
    assert program is not None
    assert stored is not None
    assert program.executable
    assert bytes(program.data) == bytes(stored.data)
    assert (program.owner, program.lamports) == (stored.owner, stored.lamports)
    resp = await node.call("getAccountInfo", [str(TOKEN_PROGRAM_ID), {"encoding": "base64"}])
    assert set(resp["result"]) == {"context", "value"}
    assert resp["result"]["value"]["data"][1] == "base64"
    assert resp["result"]["value"]["space"] == len(stored.data)


async def test_token_account_balance(node: Node) -> None:
    mint = node.local.create_mint(node.payer, 6)
    ata = node.local.create_ata(node.payer.pubkey(), mint, node.payer)
    node.local.mint_to(mint, ata, node.payer, 1_500_000)
    value = (await node.client.get_token_account_balance(ata)).value
    assert (value.amount, value.decimals, value.ui_amount_string) == ("1500000", 6, "1.5")
    assert value.ui_amount == 1.5
    with pytest.raises(RPCException):
        await node.client.get_token_account_balance(Pubkey.new_unique())
    with pytest.raises(RPCException):  # a mint is not a token account
        await node.client.get_token_account_balance(mint)


UI_AMOUNTS = [
    (0, 6, "0"),
    (1, 6, "0.000001"),
    (1_000_000, 6, "1"),
    (1_230_000, 6, "1.23"),
    (2**64 - 1, 9, "18446744073.709551615"),
    (42, 0, "42"),
]


@pytest.mark.parametrize(("amount", "decimals", "text"), UI_AMOUNTS)
def test_ui_amount_string(amount: int, decimals: int, text: str) -> None:
    assert ui_amount_string(amount, decimals) == text


async def test_airdrop_and_statuses(node: Node) -> None:
    to = Pubkey.new_unique()
    signature = (await node.client.request_airdrop(to, 3_000_000)).value
    statuses = (
        await node.client.get_signature_statuses([signature, _transfer(node, 1).signatures[0]])
    ).value
    assert statuses[1] is None
    assert statuses[0] is not None
    assert statuses[0].err is None
    assert statuses[0].confirmation_status == TransactionConfirmationStatus.Finalized
    assert (await node.client.get_balance(to)).value == 3_000_000


async def test_send_with_default_base58_encoding(node: Node) -> None:
    tx = _transfer(node, 1_000_000)
    resp = await node.call("sendTransaction", [base58.b58encode(bytes(tx)).decode()])
    assert resp["result"] == str(tx.signatures[0])
    assert resp["id"] == 7
    assert node.local.svm.get_transaction(tx.signatures[0]) is not None


async def test_preflight_failure_shape(node: Node) -> None:
    tx = _transfer(node, 10**15)
    encoded = base64.b64encode(bytes(tx)).decode()
    resp = await node.call("sendTransaction", [encoded, {"encoding": "base64"}])
    error = resp["error"]
    assert error["code"] == -32002
    assert error["data"]["err"] == {"InstructionError": [0, {"Custom": 1}]}
    assert any("insufficient lamports" in line for line in error["data"]["logs"])
    assert node.local.svm.get_transaction(tx.signatures[0]) is None


async def test_skip_preflight_lands_the_failure(node: Node) -> None:
    tx = _transfer(node, 10**15)
    before = (await node.client.get_balance(node.payer.pubkey())).value
    opts = TxOpts(skip_preflight=True, skip_confirmation=True)
    signature = (await node.client.send_raw_transaction(bytes(tx), opts)).value
    status = (await node.client.get_signature_statuses([signature])).value[0]
    assert status is not None
    assert status.err is not None
    assert (await node.client.get_balance(node.payer.pubkey())).value == before - 5_000


async def test_signature_failure_shape(node: Node) -> None:
    tx = Transaction.new_unsigned(_transfer(node, 1_000_000).message)
    resp = await node.call(
        "sendTransaction", [base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}]
    )
    assert resp["error"]["code"] == -32003


async def test_is_blockhash_valid(node: Node) -> None:
    blockhash = str(node.local.svm.latest_blockhash())
    assert (await node.call("isBlockhashValid", [blockhash]))["result"]["value"] is True
    node.local.svm.expire_blockhash()
    assert (await node.call("isBlockhashValid", [blockhash]))["result"]["value"] is False


async def test_batch(node: Node) -> None:
    body = [
        {"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
        {"jsonrpc": "2.0", "id": 2, "method": "getBalance", "params": [str(node.payer.pubkey())]},
    ]
    first, second = await node.post(body)
    assert (first["id"], first["result"]) == (1, "ok")
    assert (second["id"], second["result"]["value"]) == (2, 10**9)


ERRORS = [
    ({"jsonrpc": "2.0", "id": 1, "method": "getBlock", "params": [1]}, -32601),
    ({"jsonrpc": "2.0", "id": 1}, -32600),
    ({"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": ["nope"]}, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": {"a": 1}}, -32602),
    (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "getAccountInfo",
            "params": [str(TOKEN_PROGRAM_ID), {"encoding": "jsonParsed"}],
        },
        -32602,
    ),
    (
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "sendTransaction",
            "params": ["!!", {"encoding": "base64"}],
        },
        -32602,
    ),
    ({"jsonrpc": "2.0", "id": 1, "method": "getSignatureStatuses", "params": [["xyz"]]}, -32602),
    (b"{not json", -32700),
]


@pytest.mark.parametrize(("body", "code"), ERRORS)
async def test_errors(node: Node, body: Any, code: int) -> None:
    resp = await node.post(body)
    assert resp["error"]["code"] == code
    assert "result" not in resp


async def test_servers_take_free_ports_and_stop() -> None:
    svm = LiteSVM()
    async with LiteSvmRpc(svm) as one, LiteSvmRpc(svm) as two:
        assert one.port != two.port
        url = one.url
        async with AsyncClient(url) as client:
            assert await client.is_connected()
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"})
