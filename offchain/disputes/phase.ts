/**
 * A dispute's phase as a transaction sent now will see it: in the next block, not the latest one the views answer
 * for. A reveal sent when the latest block is `commitEnd` lands in `commitEnd + 1`, where revealing is allowed; a
 * commit sent then would be too late.
 */
import { PHASE_NAMES, type PhaseName } from "../chain/abi";

export interface DisputeTimes {
  phase: bigint | number;
  seedBlock: bigint;
  commitEnd: bigint;
  revealEnd: bigint;
}

export function phaseForNextBlock(info: DisputeTimes, latestBlock: number | bigint): PhaseName {
  const next = BigInt(latestBlock) + 1n;
  const phase = PHASE_NAMES[Number(info.phase)];
  if (phase === "Commit" || phase === "Reveal") {
    if (next <= info.commitEnd) return "Commit";
    if (next <= info.revealEnd) return "Reveal";
    return "Resolvable";
  }
  return phase;
}

/** Whether `drawCommittee` sent now can read the seed block's hash (it is mined). */
export function committeeDue(info: DisputeTimes, latestBlock: number | bigint): boolean {
  return BigInt(latestBlock) >= info.seedBlock;
}
