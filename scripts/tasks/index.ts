// Hardhat tasks, one file per group. Task files import heavy modules lazily inside their actions so that
// `npx hardhat --help` stays fast and works before the first compile (typechain-types does not exist yet).
import "./bonding";
import "./deploy";
import "./gas";
import "./storageLayout";
import "./tickets";
