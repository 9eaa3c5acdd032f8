// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title DemoToken
/// @notice A plain ERC-20 for tests and the sandbox: the whole supply goes to the deployer.
contract DemoToken is ERC20 {
    constructor(string memory name_, string memory symbol_, uint256 initialSupply)
        ERC20(name_, symbol_)
    {
        _mint(msg.sender, initialSupply);
    }

    /// @notice 9, like the sandbox's SPL mint: one allocation in base units then pays the same
    /// number of tokens on both chains.
    function decimals() public pure override returns (uint8) {
        return 9;
    }
}
