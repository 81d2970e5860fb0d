import { task } from "hardhat/config";
import { HardhatPluginError } from "hardhat/plugins";

task(
  "storage-layout",
  "Checks that upgradeable managers keep the storage layout recorded in deployments/storage-layouts",
)
  .addFlag("write", "Record the current layouts (refused when they are incompatible with the recorded ones)")
  .addFlag("force", "With --write: record even incompatible layouts (only for a fresh deployment, never an upgrade)")
  .setAction(async (args: { write: boolean; force: boolean }, hre) => {
    const { checkAllLayouts, writeLayoutSnapshot } = await import("../lib/storageLayout");
    await hre.run("compile", { quiet: true });
    const checks = await checkAllLayouts(hre);
    const broken = checks.filter((check) => !check.ok && !check.snapshotMissing);
    for (const check of checks)
      console.log(`${check.ok ? "ok  " : "FAIL"} ${check.contract}${check.ok ? "" : `\n${check.explanation}`}`);

    if (args.write) {
      if (broken.length > 0 && !args.force) {
        throw new HardhatPluginError(
          "streamflow",
          "refusing to record incompatible layouts (use --force for a fresh deployment)",
        );
      }
      for (const check of checks) console.log(`wrote ${await writeLayoutSnapshot(hre, check.contract)}`);
      return;
    }
    if (checks.some((check) => !check.ok)) {
      throw new HardhatPluginError("streamflow", "an upgradeable manager's storage layout is not upgrade-safe");
    }
  });
