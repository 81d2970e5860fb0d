// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IController} from "../interfaces/IController.sol";
import {ReentrantReceiver} from "./ReentrantReceiver.sol";

/// @title ReentrantMinter
/// @notice A `migrateToNewMinter` target that passes the Minter's check (it names the same Controller) and takes the
/// ETH in `fallback` (`depositETH()` has no function here), where it re-enters as configured.
contract ReentrantMinter is ReentrantReceiver {
    IController private immutable CONTROLLER;

    constructor(IController controller_) {
        CONTROLLER = controller_;
    }

    function controller() external view returns (IController) {
        return CONTROLLER;
    }
}
