#!/usr/bin/env node
// The `streamflow` command. Runs the TypeScript sources directly (transpile only: `npm run typecheck` checks types).
const path = require("node:path");

require("ts-node").register({
  project: path.join(__dirname, "..", "tsconfig.json"),
  transpileOnly: true,
});
require("../offchain/cli").main(process.argv);
