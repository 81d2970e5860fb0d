/**
 * TxSender on the in-process Hardhat network: the hash is handed over before the broadcast, nonces follow the node
 * when another sender used the account, a transaction left unmined is replaced with the same nonce and higher fees,
 * the fee ceiling holds, and reverts and missing ETH come back as readable TxErrors.
 */
import { expect } from "chai";
import { Contract, Wallet } from "ethers";
import hre from "hardhat";

import { BONDING_MANAGER_ABI, MANAGER_ERRORS } from "../../offchain/chain/abi";
import { TxError, TxSender } from "../../offchain/chain/txSender";
import { ServiceRegistry__factory } from "../../typechain-types";
import { rejectionOf } from "../support/assertions";
import { deployedSuite } from "../support/fixtures";
import { devKey } from "../support/orchestratorChain";

describe("offchain/chain TxSender", function () {
  let registry: Contract;
  let wallet: Wallet;

  beforeEach(async () => {
    const suite = await deployedSuite();
    registry = new Contract(
      await suite.serviceRegistry.getAddress(),
      ServiceRegistry__factory.abi,
      hre.ethers.provider,
    );
    wallet = new Wallet(devKey(7), hre.ethers.provider);
  });

  afterEach(async () => {
    await hre.network.provider.send("evm_setAutomine", [true]);
  });

  it("records the hash before broadcasting and returns the mined receipt", async () => {
    const sender = new TxSender({ wallet, provider: hre.ethers.provider, pollMs: 20 });
    const seen: string[] = [];
    const receipt = await sender.send(registry, "setServiceURI", ["https://a.example"], {
      beforeBroadcast: (hash) => seen.push(hash),
    });
    expect(seen).to.deep.equal([receipt.hash]);
    expect(await registry.getServiceURI(wallet.address)).to.equal("https://a.example");
  });

  it("takes the node's nonce when another sender used the account meanwhile", async () => {
    const sender = new TxSender({ wallet, provider: hre.ethers.provider, pollMs: 20 });
    await sender.send(registry, "setServiceURI", ["https://a.example"]);
    // Elsewhere, the same key sends a transaction.
    await (await wallet.sendTransaction({ to: wallet.address, value: 1n })).wait();
    const receipt = await sender.send(registry, "setServiceURI", ["https://b.example"]);
    expect(receipt.status).to.equal(1);
    expect(await registry.getServiceURI(wallet.address)).to.equal("https://b.example");
  });

  it("replaces a transaction left unmined with the same nonce and higher fees", async () => {
    await hre.network.provider.send("evm_setAutomine", [false]);
    const sender = new TxSender({ wallet, provider: hre.ethers.provider, pollMs: 20, replaceAfterMs: 200 });
    const hashes: Array<{ hash: string; previous?: string }> = [];
    const sent = sender.send(registry, "setServiceURI", ["https://c.example"], {
      beforeBroadcast: (hash, previous) => {
        hashes.push({ hash, previous });
        // Mine once the replacement is out: the node keeps only the higher-fee transaction for the nonce.
        if (previous !== undefined) setTimeout(() => void hre.network.provider.send("evm_mine", []), 50);
      },
    });
    const receipt = await sent;
    expect(hashes).to.have.length(2);
    expect(hashes[1].previous).to.equal(hashes[0].hash);
    expect(receipt.hash).to.equal(hashes[1].hash);
    const [first, second] = await Promise.all(hashes.map((h) => hre.ethers.provider.getTransaction(h.hash)));
    expect(second!.nonce).to.equal(first?.nonce ?? second!.nonce);
    expect(second!.maxFeePerGas! > (first?.maxFeePerGas ?? 0n)).to.equal(true);
  });

  it("does not replace above --max-gas-price and says so", async () => {
    await hre.network.provider.send("evm_setAutomine", [false]);
    const fees = await hre.ethers.provider.getFeeData();
    const sender = new TxSender({
      wallet,
      provider: hre.ethers.provider,
      pollMs: 20,
      replaceAfterMs: 100,
      maxGasPrice: fees.maxFeePerGas!, // room for the first transaction, none for a 25% bump
    });
    const error = await rejectionOf(sender.send(registry, "setServiceURI", ["https://d.example"]));
    expect(error).to.be.instanceOf(TxError);
    expect((error as TxError).code).to.equal("GAS_PRICE_TOO_HIGH");
  });

  it("refuses to send when the base fee is above the ceiling", async () => {
    const sender = new TxSender({ wallet, provider: hre.ethers.provider, pollMs: 20, maxGasPrice: 1n });
    const error = (await rejectionOf(sender.send(registry, "setServiceURI", ["x"]))) as TxError;
    expect(error.code).to.equal("GAS_PRICE_TOO_HIGH");
    expect(error.message).to.match(/above --max-gas-price/);
  });

  it("names the custom error of a transaction that would revert, without sending it", async () => {
    const bonding = new Contract(
      (await deployedSuite()).bondingManager.target as string,
      [...BONDING_MANAGER_ABI, ...MANAGER_ERRORS],
      hre.ethers.provider,
    );
    const before = await hre.ethers.provider.getTransactionCount(wallet.address);
    const sender = new TxSender({ wallet, provider: hre.ethers.provider, pollMs: 20 });
    const error = (await rejectionOf(sender.send(bonding, "reward", []))) as TxError;
    expect(error.code, error.message).to.equal("REVERTED");
    expect(error.message).to.match(/^reward would revert: \w+\(/);
    expect(await hre.ethers.provider.getTransactionCount(wallet.address)).to.equal(before);
  });

  it("reports an account without ETH with the amounts", async () => {
    const poor = Wallet.createRandom().connect(hre.ethers.provider);
    await (await (await hre.ethers.getSigners())[0].sendTransaction({ to: poor.address, value: 1000n })).wait();
    const sender = new TxSender({ wallet: poor as unknown as Wallet, provider: hre.ethers.provider, pollMs: 20 });
    const error = (await rejectionOf(sender.send(registry, "setServiceURI", ["x"]))) as TxError;
    expect(error.code).to.equal("INSUFFICIENT_ETH");
    expect(error.message).to.include(poor.address);
    expect(error.message).to.match(/has 0\.000000000000001 ETH; the transaction may cost up to [\d.]+ ETH/);
  });
});
