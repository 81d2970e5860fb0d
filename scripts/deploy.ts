// Deploys and wires the protocol on the selected network and writes deployments/<network>.json.
//   npx hardhat run scripts/deploy.ts --network localhost
// The `deploy` task does the same with flags (`npx hardhat deploy --help`).
import hre from "hardhat";

import { deploySuite } from "./lib/deploySuite";

deploySuite(hre, {
  force: process.env.FORCE_REDEPLOY === "1",
  log: (line) => console.log(line),
}).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
