import path from "node:path";
import fs from "node:fs";
import { task } from "hardhat/config";
import { HardhatPluginError } from "hardhat/plugins";

const SNAPSHOT = "gas-snapshot.json";

task("gas-snapshot", `Measures gas of the protocol's operations and writes ${SNAPSHOT}`)
  .addFlag("check", `Compare with the checked-in ${SNAPSHOT} instead of writing it; fail if anything changed`)
  .setAction(async (args: { check: boolean }, hre) => {
    const { diffSnapshots, formatDiff, measureGas, readSnapshot } = await import("../lib/gasSnapshot");
    await hre.run("compile", { quiet: true });
    const file = path.join(hre.config.paths.root, SNAPSHOT);
    const measured = await measureGas(hre);
    const previous = readSnapshot(file) ?? {};
    const diffs = diffSnapshots(previous, measured);

    if (args.check) {
      if (diffs.length > 0) {
        throw new HardhatPluginError(
          "streamflow",
          `${SNAPSHOT} is stale; run \`npm run gas\` and commit it. Differences:\n${formatDiff(diffs)}`,
        );
      }
      console.log(`${SNAPSHOT} is up to date (${Object.keys(measured).length} operations)`);
      return;
    }
    fs.writeFileSync(file, JSON.stringify(measured, null, 2) + "\n");
    console.log(diffs.length > 0 ? `updated ${SNAPSHOT}:\n${formatDiff(diffs)}` : `${SNAPSHOT} unchanged`);
  });
