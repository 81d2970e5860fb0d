import { task, types } from "hardhat/config";

task("deploy", "Deploys and wires the protocol, then writes deployments/<network>.json")
  .addFlag("force", "Replace a deployment that is still live on this chain (the old record is kept as a backup)")
  .addOptionalParam(
    "params",
    "Parameter file (default: deployments/params/local.json on hardhat/localhost, testnet.json elsewhere)",
    undefined,
    types.inputFile,
  )
  .setAction(async (args: { force: boolean; params?: string }, hre) => {
    const { deploySuite } = await import("../lib/deploySuite");
    const { file, record } = await deploySuite(hre, {
      force: args.force,
      paramsFile: args.params,
      log: (line) => console.log(line),
    });
    if (hre.network.name === "hardhat") {
      console.log("note: the in-process hardhat network ends with this command; use --network localhost to keep it");
    }
    return { file, record };
  });
