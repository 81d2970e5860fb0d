import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { parseEther } from "ethers";

import { ParamsError, defaultParamsFile, loadProtocolParams, parseProtocolParams } from "../../scripts/lib/params";

const ROOT = path.resolve(__dirname, "..", "..");
const LOCAL = path.join(ROOT, "deployments", "params", "local.json");
const local = () => JSON.parse(fs.readFileSync(LOCAL, "utf8")) as Record<string, unknown>;

function problemsOf(input: unknown): string[] {
  try {
    parseProtocolParams(input, "test.json");
  } catch (error) {
    expect(error).to.be.instanceOf(ParamsError);
    return (error as ParamsError).problems;
  }
  return [];
}

describe("deployment parameters", () => {
  it("the shipped local and testnet files parse, with protocol.md's values", () => {
    const localParams = loadProtocolParams(LOCAL);
    expect(localParams.roundLength).to.equal(20n);
    expect(localParams.disputeBond).to.equal(parseEther("0.01"));
    expect(localParams.genesisSupply).to.equal(parseEther("10000000"));
    const testnet = loadProtocolParams(path.join(ROOT, "deployments", "params", "testnet.json"));
    expect(testnet.roundLength).to.equal(5760n);
    expect(testnet.unbondingPeriod).to.equal(7n);
    expect(testnet.disputeBond).to.equal(parseEther("0.1"));
    expect(testnet.committeeSize).to.equal(7n);
    expect(testnet.quorum).to.equal(4n);
  });

  it("picks the local profile for local chains and the testnet profile elsewhere", () => {
    expect(defaultParamsFile("hardhat", ROOT)).to.equal(LOCAL);
    expect(defaultParamsFile("localhost", ROOT)).to.equal(LOCAL);
    expect(path.basename(defaultParamsFile("sepolia", ROOT))).to.equal("testnet.json");
  });

  it("lists a missing parameter and an unknown one", () => {
    const input = local();
    delete input.quorum;
    input.quourm = 2;
    expect(problemsOf(input)).to.deep.equal(["quorum: missing", "quourm: unknown parameter (a typo?)"]);
  });

  it("rejects percentages above 100% and values below their minimum", () => {
    expect(
      problemsOf({ ...local(), faultSlashAmount: 1_000_001, targetBondingRate: 1_000_000_001, roundLength: 0 }),
    ).to.deep.equal([
      "roundLength: 0 is below the minimum 1",
      "targetBondingRate: 1000000001 exceeds 1000000000 (ppb)",
      "faultSlashAmount: 1000001 exceeds 1000000 (ppm)",
    ]);
  });

  it("takes amounts only as decimal strings, never floats", () => {
    const problems = problemsOf({ ...local(), disputeBond: 0.01, genesisSupply: "1e6" });
    expect(problems).to.have.length(2);
    expect(problems[0]).to.match(/^genesisSupply: expected a decimal string of LPT/);
    expect(problems[1]).to.match(/^disputeBond: expected a decimal string of ETH/);
    expect(parseProtocolParams({ ...local(), disputeBond: "12.5" }, "x").disputeBond).to.equal(parseEther("12.5"));
  });

  it("rejects a quorum larger than the committee", () => {
    expect(problemsOf({ ...local(), committeeSize: 3, quorum: 4 })).to.deep.equal([
      "quorum: 4 exceeds committeeSize 3",
    ]);
  });

  it("reports an unreadable or malformed file clearly", () => {
    expect(() => loadProtocolParams(path.join(ROOT, "no-such-file.json"))).to.throw(
      ParamsError,
      /cannot read the file/,
    );
    const malformed = path.join(os.tmpdir(), `streamflow-params-${process.pid}.json`);
    fs.writeFileSync(malformed, '{"roundLength": 20,');
    try {
      expect(() => loadProtocolParams(malformed)).to.throw(ParamsError, /not valid JSON/);
    } finally {
      fs.rmSync(malformed);
    }
  });
});
