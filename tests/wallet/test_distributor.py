"""MerkleDistributor on anvil through wallet.distributor: claims, rejections, deadline, withdraw."""

from dataclasses import dataclass

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector
from web3 import AsyncWeb3
from web3.logs import DISCARD

from wallet import distributor as dist
from wallet.chains.anvil import Anvil
from wallet.merkle import StandardMerkleTree

pytestmark = pytest.mark.chain

SUPPLY = 10**24
AMOUNTS = [100 * 10**18, 250 * 10**18, 1, 7 * 10**18]
POOL = sum(AMOUNTS)
FUNDING = POOL + 5 * 10**18  # more than the pool, so withdraw has a remainder to return
WINDOW = 3600
_TRUNCATED = "0x" + function_signature_to_4byte_selector("AlreadyClaimed(uint256)").hex() + "00"


@dataclass
class Drop:
    token: str
    distributor: str
    deadline: int
    owner: LocalAccount
    values: list[tuple[int, str, int]]
    proofs: list[list[str]]


async def _now(w3: AsyncWeb3) -> int:
    return int((await w3.eth.get_block("latest"))["timestamp"])


@pytest.fixture
async def drop(w3: AsyncWeb3, anvil: Anvil) -> Drop:
    owner = anvil.accounts[0]
    claimants = anvil.accounts[1 : 1 + len(AMOUNTS)]
    values = [
        (i, acct.address, amount)
        for i, (acct, amount) in enumerate(zip(claimants, AMOUNTS, strict=True))
    ]
    # Leaves nobody claims here make the tree deeper and unbalanced (11 leaves).
    fillers = [(len(values) + i, Account.create().address, 10**18) for i in range(7)]
    tree = StandardMerkleTree.of([*values, *fillers], ["uint256", "address", "uint256"])
    root, proofs = tree.root, [tree.get_proof(i) for i in range(len(values))]
    token = await dist.deploy_token(
        w3, name="Demo", symbol="DEMO", supply=SUPPLY, deployer_key=owner.key
    )
    deadline = await _now(w3) + WINDOW
    address = await dist.deploy_distributor(
        w3, token=token, merkle_root=root, claim_deadline=deadline, owner_key=owner
    )
    await dist.fund(w3, token=token, distributor=address, amount=FUNDING, funder_key=owner)
    return Drop(token, address, deadline, owner, values, proofs)


async def _balance(w3: AsyncWeb3, token: str, holder: str) -> int:
    return int(await dist.token_contract(w3, token).functions.balanceOf(holder).call())


async def _travel_past(anvil: Anvil, timestamp: int) -> None:
    anvil.rpc("evm_setNextBlockTimestamp", [timestamp + 1])
    anvil.rpc("evm_mine")


async def test_deployed_state(w3: AsyncWeb3, drop: Drop) -> None:
    contract = dist.distributor_contract(w3, drop.distributor)
    assert await contract.functions.token().call() == drop.token
    assert await contract.functions.claimDeadline().call() == drop.deadline
    assert await contract.functions.owner().call() == drop.owner.address
    assert await _balance(w3, drop.token, drop.distributor) == FUNDING


async def test_claims_pay_each_account_once(w3: AsyncWeb3, anvil: Anvil, drop: Drop) -> None:
    relayer = anvil.accounts[9]  # anyone may submit; the tokens still go to the leaf's account
    contract = dist.distributor_contract(w3, drop.distributor)
    for (index, account, amount), proof in zip(drop.values, drop.proofs, strict=True):
        assert not await dist.is_claimed(w3, distributor=drop.distributor, index=index)
        before = await _balance(w3, drop.token, account)
        receipt = await dist.claim(
            w3, distributor=drop.distributor, index=index, account=account, amount=amount,
            proof=proof, sender_key=relayer,
        )  # fmt: skip
        assert await _balance(w3, drop.token, account) == before + amount
        assert await dist.is_claimed(w3, distributor=drop.distributor, index=index)
        (event,) = contract.events.Claimed().process_receipt(receipt, errors=DISCARD)
        assert dict(event["args"]) == {"index": index, "account": account, "amount": amount}
    assert await _balance(w3, drop.token, drop.distributor) == FUNDING - POOL
    assert await _balance(w3, drop.token, relayer.address) == 0


async def test_double_claim_is_rejected(w3: AsyncWeb3, drop: Drop) -> None:
    index, account, amount = drop.values[1]
    args = {"distributor": drop.distributor, "index": index, "account": account, "amount": amount}
    await dist.claim(w3, **args, proof=drop.proofs[1], sender_key=drop.owner)
    with pytest.raises(dist.DistributorError) as caught:
        await dist.claim(w3, **args, proof=drop.proofs[1], sender_key=drop.owner)
    assert caught.value.name == "AlreadyClaimed"
    assert caught.value.error_args == (index,)
    assert await _balance(w3, drop.token, drop.distributor) == FUNDING - amount


@pytest.mark.parametrize(
    ("field", "tamper"),
    [
        ("amount", lambda v, d: (v[0], v[1], v[2] + 1)),
        ("account", lambda v, d: (v[0], d.owner.address, v[2])),
        ("index", lambda v, d: (v[0] + 1, v[1], v[2])),
        ("proof", None),
    ],
)
async def test_tampered_claim_is_invalid_proof(
    w3: AsyncWeb3, drop: Drop, field: str, tamper: object
) -> None:
    value, proof = drop.values[0], drop.proofs[0]
    if field == "proof":
        proof = drop.proofs[2]
    else:
        value = tamper(value, drop)  # type: ignore[operator]
    with pytest.raises(dist.DistributorError) as caught:
        await dist.claim(
            w3, distributor=drop.distributor, index=value[0], account=value[1], amount=value[2],
            proof=proof, sender_key=drop.owner,
        )  # fmt: skip
    assert caught.value.name == "InvalidProof"
    assert not await dist.is_claimed(w3, distributor=drop.distributor, index=value[0])


async def test_claim_at_deadline_ok_after_it_closed(
    w3: AsyncWeb3, anvil_snapshot: Anvil, drop: Drop
) -> None:
    anvil_snapshot.rpc("evm_setNextBlockTimestamp", [drop.deadline])
    index, account, amount = drop.values[0]
    await dist.claim(
        w3, distributor=drop.distributor, index=index, account=account, amount=amount,
        proof=drop.proofs[0], sender_key=drop.owner,
    )  # fmt: skip
    assert await _now(w3) == drop.deadline
    anvil_snapshot.rpc("evm_setNextBlockTimestamp", [drop.deadline + 1])
    index, account, amount = drop.values[1]
    with pytest.raises(dist.DistributorError) as caught:
        await dist.claim(
            w3, distributor=drop.distributor, index=index, account=account, amount=amount,
            proof=drop.proofs[1], sender_key=drop.owner,
        )  # fmt: skip
    assert caught.value.name == "ClaimWindowClosed"


async def test_withdraw_only_after_deadline_by_owner(
    w3: AsyncWeb3, anvil_snapshot: Anvil, drop: Drop
) -> None:
    owner = drop.owner.address
    with pytest.raises(dist.DistributorError) as caught:
        await dist.withdraw(w3, distributor=drop.distributor, to=owner, owner_key=drop.owner)
    assert caught.value.name == "ClaimWindowOpen"

    index, account, amount = drop.values[3]
    await dist.claim(
        w3, distributor=drop.distributor, index=index, account=account, amount=amount,
        proof=drop.proofs[3], sender_key=drop.owner,
    )  # fmt: skip
    await _travel_past(anvil_snapshot, drop.deadline)

    stranger = anvil_snapshot.accounts[8]
    with pytest.raises(dist.DistributorError) as caught:
        await dist.withdraw(
            w3, distributor=drop.distributor, to=stranger.address, owner_key=stranger
        )
    assert caught.value.name == "OwnableUnauthorizedAccount"
    assert caught.value.error_args == (stranger.address,)

    before = await _balance(w3, drop.token, owner)
    receipt = await dist.withdraw(w3, distributor=drop.distributor, to=owner, owner_key=drop.owner)
    rest = FUNDING - amount
    assert await _balance(w3, drop.token, owner) == before + rest
    assert await _balance(w3, drop.token, drop.distributor) == 0
    contract = dist.distributor_contract(w3, drop.distributor)
    (event,) = contract.events.Withdrawn().process_receipt(receipt, errors=DISCARD)
    assert dict(event["args"]) == {"to": owner, "amount": rest}


@pytest.mark.parametrize("offset", [0, -1, -86400])
async def test_deadline_must_be_in_the_future(
    w3: AsyncWeb3, anvil_snapshot: Anvil, drop: Drop, offset: int
) -> None:
    # A transaction lands in the next block, one second after the latest at the earliest.
    deadline = await _now(w3) + 1 + offset
    anvil_snapshot.rpc("evm_setNextBlockTimestamp", [await _now(w3) + 1])
    with pytest.raises(dist.DistributorError) as caught:
        await dist.deploy_distributor(
            w3, token=drop.token, merkle_root=bytes(32), claim_deadline=deadline,
            owner_key=drop.owner,
        )  # fmt: skip
    assert caught.value.name == "DeadlineInPast"


async def test_underfunded_transfer_names_the_token_error(
    w3: AsyncWeb3, anvil: Anvil, drop: Drop
) -> None:
    poor = anvil.accounts[9]
    with pytest.raises(dist.DistributorError) as caught:
        await dist.fund(
            w3, token=drop.token, distributor=drop.distributor, amount=1, funder_key=poor
        )
    assert caught.value.name == "ERC20InsufficientBalance"
    assert caught.value.error_args == (poor.address, 0, 1)


@pytest.mark.parametrize(
    ("data", "name", "args"),
    [
        ("0x" + function_signature_to_4byte_selector("InvalidProof()").hex(), "InvalidProof", ()),
        (
            function_signature_to_4byte_selector("AlreadyClaimed(uint256)")
            + encode(["uint256"], [7]),
            "AlreadyClaimed",
            (7,),
        ),
        (
            function_signature_to_4byte_selector("Error(string)") + encode(["string"], ["no"]),
            "Error",
            ("no",),
        ),
        (bytes.fromhex("deadbeef"), "Unknown", ("0xdeadbeef",)),
        # a known selector with its argument cut off
        (_TRUNCATED, "Unknown", (_TRUNCATED,)),
    ],
)
def test_decode_error(data: bytes | str, name: str, args: tuple[object, ...]) -> None:
    error = dist.decode_error(data)
    assert (error.name, error.error_args) == (name, args)
