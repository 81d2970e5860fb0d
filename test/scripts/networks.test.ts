import { expect } from "chai";

import { remoteNetworkProblems, remoteNetworks } from "../../scripts/lib/networks";

const KEY = "0x" + "ab".repeat(32);

describe("remote networks (sepolia, arbitrumSepolia)", () => {
  it("need nothing on local networks", () => {
    expect(remoteNetworkProblems("hardhat", {})).to.deep.equal([]);
    expect(remoteNetworkProblems("localhost", {})).to.deep.equal([]);
  });

  it("name each missing environment variable", () => {
    const problems = remoteNetworkProblems("sepolia", {});
    expect(problems).to.have.length(2);
    expect(problems[0]).to.match(/^RPC_URL is not set/);
    expect(problems[1]).to.match(/^DEPLOYER_KEY is not set/);
  });

  it("reject a malformed key without echoing it", () => {
    const problems = remoteNetworkProblems("arbitrumSepolia", {
      RPC_URL: "https://rpc.example",
      DEPLOYER_KEY: "0x1234",
    });
    expect(problems).to.deep.equal([
      "DEPLOYER_KEY is not a private key: expected 64 hex digits, optionally prefixed with 0x",
    ]);
  });

  it("are configured from RPC_URL and DEPLOYER_KEY with their chain ids", () => {
    const configs = remoteNetworks({ RPC_URL: "https://rpc.example", DEPLOYER_KEY: KEY.slice(2) });
    expect(configs.sepolia).to.deep.equal({ url: "https://rpc.example", chainId: 11155111, accounts: [KEY] });
    expect(configs.arbitrumSepolia).to.include({ chainId: 421614 });
    expect(remoteNetworkProblems("sepolia", { RPC_URL: "https://rpc.example", DEPLOYER_KEY: KEY })).to.deep.equal([]);
  });

  it("still give hardhat a valid config when nothing is set", () => {
    const configs = remoteNetworks({});
    expect(configs.sepolia).to.deep.include({ accounts: [] });
    expect((configs.sepolia as { url: string }).url).to.match(/\.invalid$/);
  });
});
