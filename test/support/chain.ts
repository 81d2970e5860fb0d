import { ethers } from "hardhat";
import { mineUpTo } from "@nomicfoundation/hardhat-network-helpers";

/**
 * Mines empty blocks so that the next transaction is included in block `blockNumber`
 * (automine puts each transaction in a new block).
 */
export async function mineToNextTxBlock(blockNumber: bigint): Promise<void> {
  const current = BigInt(await ethers.provider.getBlockNumber());
  if (blockNumber <= current) throw new Error(`block ${blockNumber} is already mined (head is ${current})`);
  if (blockNumber - 1n > current) await mineUpTo(blockNumber - 1n);
}

/** Mines empty blocks until the head is `blockNumber` (for view calls, which read the head block). */
export async function mineToHead(blockNumber: bigint): Promise<void> {
  const current = BigInt(await ethers.provider.getBlockNumber());
  if (blockNumber < current) throw new Error(`head ${current} is past block ${blockNumber}`);
  if (blockNumber > current) await mineUpTo(blockNumber);
}

interface RoundClock {
  currentRoundStartBlock(): Promise<bigint>;
  roundLength(): Promise<bigint>;
  initializeRound(): Promise<{ wait(): Promise<unknown> }>;
}

/** Mines to the first block of the next round and initializes it there, so a test has a whole round ahead. */
export async function startNextRound(rounds: RoundClock): Promise<void> {
  const next = (await rounds.currentRoundStartBlock()) + (await rounds.roundLength());
  await mineToNextTxBlock(next);
  await (await rounds.initializeRound()).wait();
}
