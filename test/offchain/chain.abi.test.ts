/**
 * The hand-kept human-readable ABI the daemons use (offchain/chain/abi.ts) against the compiled artifacts: every
 * function with the same selector, outputs and mutability, every event with the same topic and indexed inputs, every
 * error with the same selector, on the implementation contract the daemons talk to (inherited errors included).
 */
import { expect } from "chai";
import { ErrorFragment, EventFragment, Fragment, FunctionFragment, Interface } from "ethers";
import hre from "hardhat";

import {
  BONDING_MANAGER_ABI,
  DISPUTE_MANAGER_ABI,
  MANAGER_ERRORS,
  ROUNDS_MANAGER_ABI,
  SERVICE_REGISTRY_ABI,
  TICKET_BROKER_ABI,
  TOKEN_ABI,
} from "../../offchain/chain/abi";

type ContractName =
  "TicketBroker" | "RoundsManager" | "BondingManager" | "ServiceRegistry" | "DisputeManager" | "LivepeerToken";

const compiled = new Map<ContractName, Interface>();

async function artifactInterface(name: ContractName): Promise<Interface> {
  let iface = compiled.get(name);
  if (!iface) {
    iface = new Interface((await hre.artifacts.readArtifact(name)).abi);
    compiled.set(name, iface);
  }
  return iface;
}

const types = (params: FunctionFragment["outputs"]) => params.map((p) => p.format("sighash"));

/** What is wrong with `fragment` as `contract` compiles it; undefined when it matches. */
function mismatch(fragment: Fragment, contract: Interface): string | undefined {
  if (fragment instanceof FunctionFragment) {
    const found = contract.getFunction(fragment.selector);
    if (!found) return `no function ${fragment.format("sighash")}`;
    if (found.format("sighash") !== fragment.format("sighash")) return `signature ${found.format("sighash")}`;
    if (found.stateMutability !== fragment.stateMutability) return `mutability is ${found.stateMutability}`;
    if (types(found.outputs).join() !== types(fragment.outputs).join()) return `returns (${types(found.outputs)})`;
    return undefined;
  }
  if (fragment instanceof EventFragment) {
    const found = contract.getEvent(fragment.topicHash);
    if (!found) return `no event ${fragment.format("sighash")}`;
    if (found.anonymous !== fragment.anonymous) return "anonymous differs";
    const indexed = (e: EventFragment) => e.inputs.map((p) => p.indexed === true).join();
    if (indexed(found) !== indexed(fragment)) return `indexed inputs are ${found.format("full")}`;
    return undefined;
  }
  if (fragment instanceof ErrorFragment) {
    const found = contract.getError(fragment.selector);
    if (!found) return `no error ${fragment.format("sighash")}`;
    if (found.format("sighash") !== fragment.format("sighash")) return `signature ${found.format("sighash")}`;
    return undefined;
  }
  return `unexpected ${fragment.type} fragment`;
}

/** Every fragment of `abi` that does not match its contract, as "fragment: problem". */
async function mismatches(abi: readonly string[], contractOf: (fragment: Fragment) => ContractName) {
  const problems: string[] = [];
  for (const text of abi) {
    const fragment = Fragment.from(text);
    const contract = contractOf(fragment);
    const problem = mismatch(fragment, await artifactInterface(contract));
    if (problem) problems.push(`${contract}: ${text}: ${problem}`);
  }
  return problems;
}

describe("chain ABI: hand-kept fragments match the compiled contracts", () => {
  it("TICKET_BROKER_ABI matches TicketBroker, and TranscoderNotActive matches BondingManager", async () => {
    const contractOf = (f: Fragment): ContractName =>
      f instanceof ErrorFragment && f.name === "TranscoderNotActive" ? "BondingManager" : "TicketBroker";
    expect(await mismatches(TICKET_BROKER_ABI, contractOf)).to.deep.equal([]);
  });

  it("ROUNDS_MANAGER_ABI matches RoundsManager", async () => {
    expect(await mismatches(ROUNDS_MANAGER_ABI, () => "RoundsManager")).to.deep.equal([]);
  });

  it("BONDING_MANAGER_ABI matches BondingManager", async () => {
    expect(await mismatches(BONDING_MANAGER_ABI, () => "BondingManager")).to.deep.equal([]);
  });

  it("SERVICE_REGISTRY_ABI matches ServiceRegistry", async () => {
    expect(await mismatches(SERVICE_REGISTRY_ABI, () => "ServiceRegistry")).to.deep.equal([]);
  });

  it("DISPUTE_MANAGER_ABI matches DisputeManager (the slash's round error matches BondingManager)", async () => {
    const contractOf = (f: Fragment): ContractName =>
      f instanceof ErrorFragment && f.name === "CurrentRoundNotInitialized" ? "BondingManager" : "DisputeManager";
    expect(await mismatches(DISPUTE_MANAGER_ABI, contractOf)).to.deep.equal([]);
  });

  it("TOKEN_ABI matches LivepeerToken", async () => {
    expect(await mismatches(TOKEN_ABI, () => "LivepeerToken")).to.deep.equal([]);
  });

  it("MANAGER_ERRORS are errors of every manager the daemons pair them with", async () => {
    const managers: ContractName[] = [
      "TicketBroker",
      "RoundsManager",
      "BondingManager",
      "ServiceRegistry",
      "DisputeManager",
    ];
    for (const manager of managers) {
      expect(await mismatches(MANAGER_ERRORS, () => manager), manager).to.deep.equal([]);
    }
  });

  it("declares each fragment once, and each list parses together with MANAGER_ERRORS as the daemons use it", () => {
    for (const abi of [
      TICKET_BROKER_ABI,
      ROUNDS_MANAGER_ABI,
      BONDING_MANAGER_ABI,
      SERVICE_REGISTRY_ABI,
      DISPUTE_MANAGER_ABI,
    ]) {
      const iface = new Interface([...abi, ...MANAGER_ERRORS]);
      const signatures = abi.map((text) => Fragment.from(text).format("sighash"));
      expect(new Set(signatures).size, signatures.join()).to.equal(signatures.length);
      for (const error of MANAGER_ERRORS) {
        expect(iface.getError(ErrorFragment.from(error).selector)).to.not.equal(null);
      }
    }
  });

  it("would catch a drifted fragment: a wrong output, mutability, indexed flag or error are reported", async () => {
    const broker = await artifactInterface("TicketBroker");
    expect(mismatch(Fragment.from("function usedTickets(bytes32 ticketHash) view returns (uint256)"), broker)).to.match(
      /returns/,
    );
    expect(mismatch(Fragment.from("function usedTickets(bytes32 ticketHash) returns (bool)"), broker)).to.match(
      /mutability/,
    );
    expect(mismatch(Fragment.from("event BatchTicketFailed(uint256 index, bytes reason)"), broker)).to.match(/indexed/);
    expect(mismatch(Fragment.from("error TicketUsed(bytes32 hash, uint256 extra)"), broker)).to.match(/no error/);
    expect(mismatch(Fragment.from("error TranscoderNotActive(address transcoder, uint256 round)"), broker)).to.match(
      /no error/,
    );
  });
});
