import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { JsonRpcProvider, parseEther } from "ethers";

import { type RunResult, runHardhat } from "../support/processes";
import { type DeployedNode, startDeployedNode } from "../support/deployedNode";
import { BondingManager__factory, LivepeerToken__factory, RoundsManager__factory } from "../../typechain-types";
import type { DeploymentRecord } from "../../scripts/lib/deployment";

// The CLI prints a plugin error as "Error in plugin streamflow: <message>" on stderr.
const PLUGIN_ERROR = /Error in plugin streamflow: (.*)/;
// Revert data would show up as a long run of hex digits; addresses are 40 digits, a selector with arguments more.
const HEX_BLOB = /0x[0-9a-fA-F]{64,}/;

function errorLine(result: RunResult): string {
  return PLUGIN_ERROR.exec(result.stderr)?.[1] ?? `(no plugin error line)\n${result.stderr}\n${result.stdout}`;
}

describe("e2e: bonding tasks against a `hardhat node`", function () {
  this.timeout(120_000);

  let chain: DeployedNode;
  let env: NodeJS.ProcessEnv;
  let provider: JsonRpcProvider;
  let record: DeploymentRecord;
  let orchestrator: string; // signer 1
  let delegator: string; // signer 2
  let round: bigint; // the round the flow starts in

  const task = (...args: string[]) => runHardhat([...args, "--network", "localhost"], env);
  const bondingManager = () => BondingManager__factory.connect(record.contracts.BondingManager, provider);
  const roundsManager = () => RoundsManager__factory.connect(record.contracts.RoundsManager, provider);

  const mineToNextRound = () => chain.mineToNextRound();

  before(async () => {
    chain = await startDeployedNode("bonding");
    ({ env, provider, record } = chain);
    const deployer = await provider.getSigner(0);
    orchestrator = (await provider.getSigner(1)).address;
    delegator = (await provider.getSigner(2)).address;
    // The deployer holds the genesis supply on local chains: hand some to the orchestrator and the delegator.
    const token = LivepeerToken__factory.connect(record.contracts.LivepeerToken, deployer);
    await (await token.transfer(orchestrator, parseEther("1000"))).wait();
    await (await token.transfer(delegator, parseEther("100"))).wait();
    round = await mineToNextRound();
  });

  after(async () => {
    await chain?.stop();
  });

  it("tells the user to deploy first when the network has no deployment", async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), "streamflow-e2e-empty-"));
    try {
      const result = await runHardhat(["status", "--network", "localhost"], { ...env, DEPLOYMENTS_DIR: empty });
      expect(result.code).to.not.equal(0);
      const line = errorLine(result);
      expect(line).to.match(/^no deployment for network localhost: .*localhost\.json does not exist/);
      expect(line).to.include("Deploy first: `npx hardhat deploy --network localhost`");
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it("refuses to bond before the round is initialized, in words, before approving anything", async () => {
    const result = await task("bond", "--amount", "1", "--to", orchestrator, "--from", "2");
    expect(result.code).to.not.equal(0);
    expect(errorLine(result)).to.equal(
      `round ${round} has not been initialized yet: run \`npx hardhat initialize-round --network localhost\``,
    );
    const token = LivepeerToken__factory.connect(record.contracts.LivepeerToken, provider);
    expect(await token.allowance(delegator, record.contracts.BondingManager)).to.equal(0n);
  });

  it("initialize-round initializes the current round", async () => {
    const result = await task("initialize-round");
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include(`initialized round ${round}`);
    expect(await roundsManager().currentRoundInitialized()).to.equal(true);
  });

  it("register --amount --service-uri self-bonds, registers and publishes the URI", async () => {
    const result = await task(
      "register",
      "--reward-cut",
      "10",
      "--fee-share",
      "50%",
      "--amount",
      "500",
      "--service-uri",
      "https://orchestrator.example:8935",
      "--from",
      "1",
    );
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include(`bonded 500 LPT to ${orchestrator}`);
    expect(result.stdout).to.include(`joined the pool: active from round ${round + 1n}`);
    expect(result.stdout).to.include("service URI: https://orchestrator.example:8935");

    const registration = await bondingManager().getTranscoder(orchestrator);
    expect(registration.registered).to.equal(true);
    expect(registration.rewardCut).to.equal(100_000n);
    expect(registration.feeShare).to.equal(500_000n);
    expect(await bondingManager().transcoderTotalStake(orchestrator)).to.equal(parseEther("500"));
  });

  it("bond delegates a decimal amount, approving it first", async () => {
    const result = await task("bond", "--amount", "12.5", "--to", orchestrator, "--from", delegator);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include("approving the BondingManager to spend 12.5 LPT (allowance was 0 LPT)");
    expect(result.stdout).to.include(`bonded 12.5 LPT to ${orchestrator}`);

    const books = await bondingManager().getDelegator(delegator);
    expect(books.bondedAmount).to.equal(parseEther("12.5"));
    expect(books.delegateAddress).to.equal(orchestrator);
    expect(await bondingManager().transcoderTotalStake(orchestrator)).to.equal(parseEther("512.5"));
  });

  it("status shows the delegator's books and the pool", async () => {
    const result = await task("status", "--from", "2");
    expect(result.code, result.stderr).to.equal(0);
    const out = result.stdout;
    expect(out).to.include(`round ${round}: initialized, not locked`);
    expect(out).to.include(`account ${delegator}`);
    expect(out).to.include("  LPT balance:        87.5 LPT");
    expect(out).to.include("  status:             Pending");
    expect(out).to.include("  bonded amount:      12.5 LPT");
    expect(out).to.include(`  delegate:           ${orchestrator}`);
    expect(out).to.include("  pending stake:      12.5 LPT");
    expect(out).to.include("  pending fees:       0 ETH");
    expect(out).to.include(`  start round:        ${round + 1n}`);
    expect(out).to.include("pool: 1 of 100 orchestrators");
    expect(out).to.match(new RegExp(`1  ${orchestrator}  512\\.5 LPT\\s+10%\\s+50%\\s+no\\s+no\\s+<- delegate`));
  });

  it("unbond moves stake into a lock and says when it can be withdrawn", async () => {
    const result = await task("unbond", "--amount", "2.5", "--from", "2");
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include(
      `unbonded 2.5 LPT from ${orchestrator} into unbonding lock 0, withdrawable from round ${round + 2n}`,
    );
    expect((await bondingManager().getDelegator(delegator)).bondedAmount).to.equal(parseEther("10"));
  });

  it("withdraw-stake too early fails with the decoded error in plain words and a non-zero exit code", async () => {
    const result = await task("withdraw-stake", "--lock", "0", "--from", "2");
    expect(result.code).to.not.equal(0);
    expect(errorLine(result)).to.equal(
      `withdraw-stake: unbonding lock 0 becomes withdrawable in round ${round + 2n}; ` +
        `it is round ${round} (2 rounds to go)`,
    );
    expect(result.stderr + result.stdout).to.not.match(HEX_BLOB);
  });

  it("next round: the orchestrator calls reward and the delegator's status shows it", async () => {
    const next = await mineToNextRound();
    expect((await task("initialize-round", "--from", "2")).code).to.equal(0);
    const rewarded = await task("reward", "--from", orchestrator);
    expect(rewarded.code, rewarded.stderr).to.equal(0);
    expect(rewarded.stdout).to.match(new RegExp(`minted [0-9.]+ LPT of rewards for round ${next}`));

    const again = await task("reward", "--from", "1");
    expect(again.code).to.not.equal(0);
    expect(errorLine(again)).to.equal(
      `reward: ${orchestrator} already minted its reward for round ${next}; ` +
        `the next one can be minted in round ${next + 1n}`,
    );

    const result = await task("status", "--account", delegator);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include("  status:             Bonded");
    expect(result.stdout).to.include(`  delegate rewarded:  yes (round ${next})`);
    expect(result.stdout).to.include(
      `    lock 0: 2.5 LPT, withdraw round ${round + 2n}, not yet withdrawable (1 round(s) to go)`,
    );
    const pending = await bondingManager().pendingStake(delegator, next);
    expect(pending > parseEther("10")).to.equal(true);
  });
  it("two rounds on: claim settles the reward, the lock is withdrawn, a new lock is rebonded", async () => {
    const next = await mineToNextRound();
    expect(next).to.equal(round + 2n);
    expect((await task("initialize-round")).code).to.equal(0);

    const claimed = await task("claim", "--from", "2");
    expect(claimed.code, claimed.stderr).to.equal(0);
    expect(claimed.stdout).to.match(
      new RegExp(
        `claimed [0-9.]+ LPT of rewards \\(added to your stake\\) and 0 ETH of fees through round ${round + 1n}`,
      ),
    );

    const withdrawn = await task("withdraw-stake", "--lock", "0", "--from", "2");
    expect(withdrawn.code, withdrawn.stderr).to.equal(0);
    expect(withdrawn.stdout).to.include("withdrew 2.5 LPT from unbonding lock 0");
    const token = LivepeerToken__factory.connect(record.contracts.LivepeerToken, provider);
    expect(await token.balanceOf(delegator)).to.equal(parseEther("90"));

    expect((await task("unbond", "--amount", "1", "--from", "2")).code).to.equal(0);
    const rebonded = await task("rebond", "--lock", "1", "--from", "2");
    expect(rebonded.code, rebonded.stderr).to.equal(0);
    expect(rebonded.stdout).to.include(`rebonded unbonding lock 1 (1 LPT) to ${orchestrator}`);
    expect((await bondingManager().getUnbondingLock(delegator, 1n)).amount).to.equal(0n);

    const fees = await task("withdraw-fees", "--from", "2");
    expect(fees.code).to.not.equal(0);
    expect(errorLine(fees)).to.equal("no fees to withdraw");
  });

  it("`help bond` explains the task and its parameters", async () => {
    const result = await runHardhat(["help", "bond"], env);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include("Bonds LPT and delegates your whole stake");
    expect(result.stdout).to.match(/--amount\s+LPT to bond, as a decimal number/);
    expect(result.stdout).to.match(/--from\s+Account to act as: a signer index/);
  });
});
