// `npm run bench:gas`: measures every operation of the gas snapshot on a fresh in-process chain and prints ours
// against anchors.md's targets and the reference's figures, as ratios. Writes bench/out/gas.json.
import fs from "node:fs";
import path from "node:path";
import hre from "hardhat";

import { measureGas } from "../scripts/lib/gasSnapshot";
import { compareWithTargets, formatComparison } from "../scripts/lib/gasTargets";

async function main(): Promise<void> {
  const snapshot = await measureGas(hre);
  const rows = compareWithTargets(snapshot);
  console.log(formatComparison(rows));
  const over = rows.filter((row) => row.measured === undefined || row.measured > row.target);
  console.log(`\n${rows.length - over.length} of ${rows.length} operations within target`);

  const outDir = path.join(hre.config.paths.root, "bench", "out");
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, "gas.json");
  fs.writeFileSync(file, JSON.stringify({ measuredAt: new Date().toISOString(), rows, snapshot }, null, 2) + "\n");
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
