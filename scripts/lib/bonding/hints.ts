// Pool position hints, computed off-chain. The BondingManager keeps its orchestrator pool as a linked list sorted
// by total stake (descending); every pool-changing call takes the (prev, next) neighbours the member will have after
// the change. Correct hints make the update O(1); wrong ones still work (the contract walks the list), so these
// functions aim to be exact but a stale read only costs gas.
import { ZeroAddress } from "ethers";

export interface PoolMember {
  address: string;
  /** Total stake delegated to the member (`transcoderTotalStake`), LPT wei. */
  stake: bigint;
}

/** A pool as read from the chain: members in list order (most stake first) and its capacity. */
export interface Pool {
  members: readonly PoolMember[];
  maxSize: bigint;
}

/** The neighbours a member will have; the zero address at either end of the list. */
export interface Position {
  prev: string;
  next: string;
}

export const NO_HINT: Position = { prev: ZeroAddress, next: ZeroAddress };

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * Where `self` goes with `newStake` among `members` (in list order, `self` itself ignored): after every member
 * whose stake is at least `newStake` (equal stakes keep arrival order, so a newcomer goes after them), before the
 * first with less.
 */
export function positionFor(members: readonly PoolMember[], self: string, newStake: bigint): Position {
  let prev = ZeroAddress;
  for (const member of members) {
    if (same(member.address, self)) continue;
    if (member.stake >= newStake) {
      prev = member.address;
    } else {
      return { prev, next: member.address };
    }
  }
  return { prev, next: ZeroAddress };
}

export function isMember(pool: Pool, address: string): boolean {
  return pool.members.some((member) => same(member.address, address));
}

/** `address`'s current neighbours, or no hint when it is not in the pool. */
export function currentPosition(pool: Pool, address: string): Position {
  const index = pool.members.findIndex((member) => same(member.address, address));
  if (index < 0) return NO_HINT;
  return {
    prev: index > 0 ? pool.members[index - 1]!.address : ZeroAddress,
    next: index + 1 < pool.members.length ? pool.members[index + 1]!.address : ZeroAddress,
  };
}

/**
 * The hint for a change of `address`'s stake to `newStake`: its new position if it is a member; if it is not and
 * would join (registered orchestrators join when there is room, or when they beat the last member, who is then
 * evicted first), the position among the members that remain. The contract ignores hints when nothing moves.
 */
export function hintFor(pool: Pool, address: string, newStake: bigint): Position {
  if (isMember(pool, address)) return positionFor(pool.members, address, newStake);
  if (BigInt(pool.members.length) >= pool.maxSize) {
    const last = pool.members[pool.members.length - 1];
    if (last === undefined || newStake <= last.stake) return NO_HINT; // it stays out
    return positionFor(pool.members.slice(0, -1), address, newStake);
  }
  return positionFor(pool.members, address, newStake);
}

/**
 * The pool after a member's stake changed, the way the contract reorders it: a member that is still in order
 * stays where it is, otherwise it is taken out and put back after every member with at least its new stake.
 * Non-members leave the pool unchanged. Used to chain the two updates of a change of delegate.
 */
export function withStake(pool: Pool, address: string, newStake: bigint): Pool {
  const index = pool.members.findIndex((member) => same(member.address, address));
  if (index < 0) return pool;
  const member = { address: pool.members[index]!.address, stake: newStake };
  const before = pool.members[index - 1];
  const after = pool.members[index + 1];
  if ((before === undefined || before.stake >= newStake) && (after === undefined || newStake >= after.stake)) {
    const members = [...pool.members];
    members[index] = member;
    return { ...pool, members };
  }
  const others = pool.members.filter((_, i) => i !== index);
  const { prev } = positionFor(others, address, newStake);
  const insertAt = prev === ZeroAddress ? 0 : others.findIndex((other) => same(other.address, prev)) + 1;
  return { ...pool, members: [...others.slice(0, insertAt), member, ...others.slice(insertAt)] };
}

export interface BondChange {
  pool: Pool;
  /** LPT bonded on top of the existing stake. */
  amount: bigint;
  /** The delegate after the bond, with its total stake now. */
  to: { address: string; stake: bigint };
  /** On a change of delegate: the old delegate, its total stake now, and the delegator's whole stake that moves. */
  from?: { address: string; stake: bigint; moved: bigint };
}

/**
 * Both hints of `bondWithHint`. On a change of delegate the contract first takes the moved stake from the old
 * delegate (which may reorder the pool), then gives it, plus the new amount, to the new one; the second hint is
 * computed on the pool as the first update leaves it.
 */
export function bondHints(change: BondChange): { oldDelegate: Position; newDelegate: Position } {
  let pool = change.pool;
  let oldDelegate = NO_HINT;
  let moved = 0n;
  if (change.from !== undefined && !same(change.from.address, change.to.address)) {
    moved = change.from.moved;
    const remaining = change.from.stake > moved ? change.from.stake - moved : 0n;
    if (isMember(pool, change.from.address)) oldDelegate = hintFor(pool, change.from.address, remaining);
    pool = withStake(pool, change.from.address, remaining);
  }
  return { oldDelegate, newDelegate: hintFor(pool, change.to.address, change.to.stake + moved + change.amount) };
}
