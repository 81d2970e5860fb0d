import { expect } from "chai";
import { JsonRpcProvider, parseEther } from "ethers";

import { type RunResult, runHardhat } from "../support/processes";
import { type DeployedNode, startDeployedNode } from "../support/deployedNode";
import { LivepeerToken__factory, RoundsManager__factory, TicketBroker__factory } from "../../typechain-types";
import type { DeploymentRecord } from "../../scripts/lib/deployment";

// The CLI prints a plugin error as "Error in plugin streamflow: <message>" on stderr.
const PLUGIN_ERROR = /Error in plugin streamflow: (.*)/;
// Revert data would show up as a long run of hex digits; addresses are 40 digits, a selector with arguments more.
const HEX_BLOB = /0x[0-9a-fA-F]{64,}/;
// "fund: transaction 0x... (block N, gas G)"
const TX_HASH = /: transaction (0x[0-9a-f]{64}) \(block/g;

function errorLine(result: RunResult): string {
  return PLUGIN_ERROR.exec(result.stderr)?.[1] ?? `(no plugin error line)\n${result.stderr}\n${result.stdout}`;
}

describe("e2e: broadcaster (ticket sender) tasks against a `hardhat node`", function () {
  this.timeout(120_000);

  let chain: DeployedNode;
  let env: NodeJS.ProcessEnv;
  let provider: JsonRpcProvider;
  let record: DeploymentRecord;
  let sender: string; // signer 3
  let startBalance: bigint;
  let round: bigint; // the round the flow starts in
  /** Every transaction the tasks sent, from their output, to account for gas. */
  const hashes: string[] = [];

  const task = async (...args: string[]) => {
    const result = await runHardhat([...args, "--network", "localhost"], env);
    for (const match of result.stdout.matchAll(TX_HASH)) hashes.push(match[1]!);
    return result;
  };
  const broker = () => TicketBroker__factory.connect(record.contracts.TicketBroker, provider);
  const roundsManager = () => RoundsManager__factory.connect(record.contracts.RoundsManager, provider);

  const mineToNextRound = () => chain.mineToNextRound();

  before(async () => {
    chain = await startDeployedNode("tickets");
    ({ env, provider, record } = chain);
    sender = (await provider.getSigner(3)).address;
    startBalance = await provider.getBalance(sender);
    round = await mineToNextRound();
  });

  after(async () => {
    await chain?.stop();
  });

  it("fund --deposit --reserve adds both in one transaction and says the resulting books", async () => {
    const result = await task("fund", "--deposit", "1.5", "--reserve", "0.5", "--from", "3");
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^fund: transaction 0x[0-9a-f]{64} \(block \d+, gas \d+\)$/m);
    expect(result.stdout).to.include("added 1.5 ETH to the deposit and 0.5 ETH to the reserve");
    expect(result.stdout).to.include("deposit: 1.5 ETH, reserve: 0.5 ETH");
    expect(result.stdout).to.not.include("cancelled");

    const [info, reserve] = await broker().getSenderInfo(sender);
    expect(info.deposit).to.equal(parseEther("1.5"));
    expect(reserve.fundsRemaining).to.equal(parseEther("0.5"));
  });

  it("sender-status shows the deposit, reserve, unlock and reserve allowance", async () => {
    const result = await task("sender-status", "--from", sender);
    expect(result.code, result.stderr).to.equal(0);
    const out = result.stdout;
    expect(out).to.include(`round ${round}: NOT initialized`);
    expect(out).to.include(`sender ${sender}`);
    expect(out).to.include("  deposit:            1.5 ETH");
    expect(out).to.include("  reserve:            0.5 ETH (0 ETH claimed this round)");
    expect(out).to.include("  unlock:             none (an unlock takes 2 rounds)");
    expect(out).to.include("  pool size:          0 active orchestrators in the last initialized round");
    expect(out).to.include(
      `  reserve allowance:  0 ETH (round ${round} is not initialized: no ticket pays until it is)`,
    );
  });

  it("unlock-funds says from which round withdraw-funds is possible", async () => {
    const result = await task("unlock-funds", "--from", "3");
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include(`unlocked your deposit (1.5 ETH) and reserve (0.5 ETH) in round ${round}`);
    expect(result.stdout).to.include(
      `withdraw-funds is possible from round ${round + 2n}: \`npx hardhat withdraw-funds --network localhost\``,
    );
    expect(await broker().isUnlockInProgress(sender)).to.equal(true);
  });

  it("withdraw-funds too early fails in plain words with a non-zero exit code, sending nothing", async () => {
    const before = await provider.getBlockNumber();
    const result = await task("withdraw-funds", "--from", "3");
    expect(result.code).to.not.equal(0);
    expect(errorLine(result)).to.equal(
      `withdraw-funds: the funds of ${sender} unlock in round ${round + 2n}; it is round ${round} (2 rounds to go)`,
    );
    expect(result.stderr + result.stdout).to.not.match(HEX_BLOB);
    expect(await provider.getBlockNumber()).to.equal(before);
  });

  it("fund again cancels the unlock and says so", async () => {
    const result = await task("fund", "--deposit", "0.25", "--from", "3");
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include("added 0.25 ETH to the deposit");
    expect(result.stdout).to.include("deposit: 1.75 ETH, reserve: 0.5 ETH");
    expect(result.stdout).to.include("funding cancelled the unlock that was in progress");
    expect(await broker().isUnlockInProgress(sender)).to.equal(false);

    const again = await task("cancel-unlock", "--from", "3");
    expect(again.code).to.not.equal(0);
    expect(errorLine(again)).to.equal(
      `cancel-unlock: ${sender} has no unlock in progress: ` +
        "start one with `npx hardhat unlock-funds --network localhost`, then withdraw when it is over",
    );
  });

  it("unlock-funds, two rounds later withdraw-funds pays everything back", async () => {
    const unlocked = await task("unlock-funds", "--from", "3");
    expect(unlocked.code, unlocked.stderr).to.equal(0);
    expect(unlocked.stdout).to.include(`withdraw-funds is possible from round ${round + 2n}`);

    await mineToNextRound();
    const status = await task("sender-status", "--account", sender);
    expect(status.code, status.stderr).to.equal(0);
    expect(status.stdout).to.include(
      `  unlock:             in progress: withdraw-funds from round ${round + 2n} (1 round to go); ` +
        "tickets pay until then",
    );
    expect(await mineToNextRound()).to.equal(round + 2n);

    const withdrawn = await task("withdraw-funds", "--from", "3");
    expect(withdrawn.code, withdrawn.stderr).to.equal(0);
    expect(withdrawn.stdout).to.include(`withdrew 2.25 ETH to ${sender}: deposit 1.75 ETH, reserve 0.5 ETH`);

    const [info, reserve] = await broker().getSenderInfo(sender);
    expect([info.deposit, reserve.fundsRemaining, info.withdrawRound]).to.deep.equal([0n, 0n, 0n]);
    // The balance is back, less exactly the gas of the five transactions the tasks sent.
    expect(hashes).to.have.length(5);
    const receipts = await Promise.all(hashes.map((hash) => provider.getTransactionReceipt(hash)));
    const gas = receipts.reduce((sum, receipt) => sum + receipt!.fee, 0n);
    expect(await provider.getBalance(sender)).to.equal(startBalance - gas);
  });

  it("with an orchestrator active this round, sender-status shows the reserve it may draw", async () => {
    // An orchestrator (signer 1) joins the pool this round and is active from the next.
    const deployer = await provider.getSigner(0);
    const token = LivepeerToken__factory.connect(record.contracts.LivepeerToken, deployer);
    await (await token.transfer(await provider.getSigner(1), parseEther("100"))).wait();
    await (await roundsManager().connect(deployer).initializeRound()).wait();
    const registered = await task(
      "register",
      "--reward-cut",
      "10",
      "--fee-share",
      "50",
      "--amount",
      "100",
      "--from",
      "1",
    );
    expect(registered.code, registered.stderr).to.equal(0);
    const next = await mineToNextRound();
    await (await roundsManager().connect(deployer).initializeRound()).wait();

    expect((await task("fund", "--reserve", "0.3", "--from", "3")).code).to.equal(0);
    const result = await task("sender-status", "--from", "3");
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include(`round ${next}: initialized`);
    expect(result.stdout).to.include("  deposit:            0 ETH");
    expect(result.stdout).to.include("  reserve:            0.3 ETH (0 ETH claimed this round)");
    expect(result.stdout).to.include("  pool size:          1 active orchestrator this round");
    expect(result.stdout).to.include(
      "  reserve allowance:  0.3 ETH per orchestrator this round (less what it has drawn already)",
    );
  });

  it("`help fund` explains the task and its parameters", async () => {
    const result = await runHardhat(["help", "fund"], env);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include("Adds ETH to your ticket deposit");
    expect(result.stdout).to.match(/--deposit\s+ETH to add to the deposit, as a decimal number/);
    expect(result.stdout).to.match(/--reserve\s+ETH to add to the reserve, as a decimal number/);
    expect(result.stdout).to.match(/--from\s+Account to act as: a signer index/);
  });
});
