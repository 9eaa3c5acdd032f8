// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

/// @title MerkleDistributor
/// @notice Pays one epoch's allocation: each leaf of an OpenZeppelin StandardMerkleTree with
/// leaf encoding ["uint256", "address", "uint256"] (index, account, amount) can be claimed once,
/// by anyone, until the deadline; the tokens always go to the leaf's account. After the deadline
/// the owner takes back whatever was not claimed.
contract MerkleDistributor is Ownable {
    using SafeERC20 for IERC20;
    using BitMaps for BitMaps.BitMap;

    IERC20 public immutable token;
    bytes32 public immutable merkleRoot;
    /// @notice Last second (unix time, inclusive) at which a claim is accepted.
    uint64 public immutable claimDeadline;

    BitMaps.BitMap private _claimed;

    error AlreadyClaimed(uint256 index);
    error InvalidProof();
    error ClaimWindowClosed();
    error ClaimWindowOpen();
    error DeadlineInPast();

    event Claimed(uint256 indexed index, address indexed account, uint256 amount);
    event Withdrawn(address indexed to, uint256 amount);

    /// @dev The deadline must lie in the future: a distributor that nobody can claim from would
    /// only lock the manager's funds until they withdraw them again.
    constructor(IERC20 token_, bytes32 merkleRoot_, uint64 claimDeadline_, address initialOwner)
        Ownable(initialOwner)
    {
        if (claimDeadline_ <= block.timestamp) revert DeadlineInPast();
        token = token_;
        merkleRoot = merkleRoot_;
        claimDeadline = claimDeadline_;
    }

    /// @notice Whether the leaf at `index` has been claimed.
    function isClaimed(uint256 index) external view returns (bool) {
        return _claimed.get(index);
    }

    /// @notice Pays `amount` to `account` for the leaf at `index`; anyone may submit the proof.
    function claim(uint256 index, address account, uint256 amount, bytes32[] calldata proof)
        external
    {
        if (block.timestamp > claimDeadline) revert ClaimWindowClosed();
        if (_claimed.get(index)) revert AlreadyClaimed(index);
        // Double hashing is the StandardMerkleTree leaf: it keeps a 64-byte leaf preimage from
        // ever being mistaken for an inner node.
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(index, account, amount))));
        if (!MerkleProof.verifyCalldata(proof, merkleRoot, leaf)) revert InvalidProof();
        _claimed.set(index);
        emit Claimed(index, account, amount);
        token.safeTransfer(account, amount);
    }

    /// @notice Sends the unclaimed balance to `to` once the claim window has closed.
    function withdraw(address to) external onlyOwner {
        if (block.timestamp <= claimDeadline) revert ClaimWindowOpen();
        uint256 amount = token.balanceOf(address(this));
        emit Withdrawn(to, amount);
        token.safeTransfer(to, amount);
    }
}
