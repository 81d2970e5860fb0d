// `npm run bench:tickets`: tickets validated per second and tickets created and signed per second on one core,
// offchain/pm side by side with a baseline built from ethers' generic EIP-712 and ECDSA helpers doing the same
// checks. Prints both and their ratio; writes bench/results/tickets.json.
//
//   BENCH_TICKETS=N   tickets per timed run (default 4000)   BENCH_RUNS=N   timed runs, best kept (default 5)
import { createHmac } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TypedDataEncoder, Wallet, getBytes, keccak256, recoverAddress, solidityPacked, toBeHex } from "ethers";

import {
  type SignedTicket,
  TICKET_TYPES,
  type Ticket,
  type TicketParams,
  TicketRecipient,
  TicketSender,
  type ValidationContext,
  eip712Domain,
  nativeCrypto,
  winProbForEV,
} from "../offchain/pm";

const TICKETS = Number(process.env.BENCH_TICKETS ?? 4000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
// The baseline is an order of magnitude slower: fewer of its tickets give the same per-second figure sooner.
const BASELINE_TICKETS = Math.max(1, Math.floor(TICKETS / 8));
const TARGET_VALIDATED_PER_SECOND = 5000;

const domain = { chainId: 42161n, verifyingContract: "0x" + "5a".repeat(20) };
const senderWallet = new Wallet("0x" + "11".repeat(32));
const recipientAddress = new Wallet("0x" + "22".repeat(32)).address;
const secret = Buffer.alloc(32, 0x33);
const blockHash = "0x" + "44".repeat(32);
const faceValue = 10n ** 16n;

const context: ValidationContext = {
  currentBlock: 1_000n,
  currentRound: 100n,
  blockHashForRound: () => blockHash,
  senderStanding: () => ({ maxFloat: 10n ** 18n, unlocking: false }),
};

/** Best (shortest) time in ms of `runs` calls of `work`, after one untimed warm-up call. */
function best(runs: number, work: () => void): number {
  work();
  let fastest = Infinity;
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    work();
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - started) / 1e6);
  }
  return fastest;
}

function freshParams(recipient: TicketRecipient, seedByte: number): TicketParams {
  return recipient.ticketParams({
    sender: senderWallet.address,
    faceValue,
    winProb: winProbForEV(faceValue / 100n, faceValue),
    expirationBlock: 2_000n,
    creationRound: 100n,
    creationRoundBlockHash: blockHash,
    seed: "0x" + seedByte.toString(16).padStart(2, "0").repeat(32),
  });
}

// ---- The baseline: the same checks with ethers' generic helpers ----

class BaselineRecipient {
  private readonly seen = new Map<string, Set<bigint>>();

  validate(signed: SignedTicket, seed: string, expirationBlock: bigint) {
    const { ticket } = signed;
    if (ticket.recipient.toLowerCase() !== recipientAddress.toLowerCase()) throw new Error("wrong recipient");
    if (expirationBlock < context.currentBlock) throw new Error("expired");
    if (ticket.creationRound + 2n <= context.currentRound) throw new Error("round expired");
    if (context.blockHashForRound(ticket.creationRound) !== ticket.creationRoundBlockHash)
      throw new Error("block hash");
    const mac = createHmac("sha256", secret)
      .update(getBytes(seed))
      .update(getBytes(ticket.sender))
      .update(getBytes(toBeHex(ticket.faceValue, 32)))
      .update(getBytes(toBeHex(ticket.winProb, 32)))
      .update(getBytes(toBeHex(expirationBlock, 32)))
      .update(getBytes(toBeHex(ticket.creationRound, 32)))
      .digest();
    const recipientRand = BigInt("0x" + mac.toString("hex"));
    if (keccak256(toBeHex(recipientRand, 32)) !== ticket.recipientRandHash) throw new Error("rand hash");
    const nonces = this.seen.get(ticket.recipientRandHash) ?? new Set<bigint>();
    if (nonces.has(ticket.senderNonce)) throw new Error("replayed");
    const hash = TypedDataEncoder.hash(eip712Domain(domain), TICKET_TYPES, ticket);
    if (recoverAddress(hash, signed.sig).toLowerCase() !== ticket.sender.toLowerCase()) throw new Error("signature");
    if (ticket.faceValue > context.senderStanding(ticket.sender).maxFloat) throw new Error("funds");
    nonces.add(ticket.senderNonce);
    this.seen.set(ticket.recipientRandHash, nonces);
    return BigInt(keccak256(solidityPacked(["bytes", "uint256"], [signed.sig, recipientRand]))) < ticket.winProb;
  }
}

function baselineCreate(params: TicketParams, count: number, firstNonce: number): SignedTicket[] {
  const tickets: SignedTicket[] = [];
  for (let i = 0; i < count; i++) {
    const ticket: Ticket = { ...params, sender: senderWallet.address, senderNonce: BigInt(firstNonce + i) };
    const hash = TypedDataEncoder.hash(eip712Domain(domain), TICKET_TYPES, ticket);
    tickets.push({ ticket, sig: senderWallet.signingKey.sign(hash).serialized });
  }
  return tickets;
}

// ---- Runs ----

function main(): void {
  const sender = new TicketSender({ privateKey: senderWallet.privateKey, domain });
  const options = { address: recipientAddress, secret, domain, ticketValidityPeriod: 2n, maxTicketsPerParams: 1e9 };
  // One set of parameters per timed run, so that no run's nonces are replays of another's.
  let seedByte = 0;

  const oursCreate = best(RUNS, () => {
    sender.createTickets(freshParams(new TicketRecipient(options), ++seedByte), TICKETS);
  });
  const baseCreate = best(RUNS, () => {
    baselineCreate(freshParams(new TicketRecipient(options), ++seedByte), BASELINE_TICKETS, 0);
  });

  // Pre-sign the tickets each validation run checks (one parameter set per run).
  const batches = Array.from({ length: RUNS + 1 }, () => {
    const params = freshParams(new TicketRecipient(options), ++seedByte);
    return { params, tickets: sender.createTickets(params, TICKETS) };
  });
  let run = 0;
  const oursValidate = best(RUNS, () => {
    const { params, tickets } = batches[run++ % batches.length];
    const recipient = new TicketRecipient(options);
    for (const signed of tickets) recipient.validate(signed, params, context);
  });
  run = 0;
  const baseValidate = best(RUNS, () => {
    const { params, tickets } = batches[run++ % batches.length];
    const recipient = new BaselineRecipient();
    for (const signed of tickets.slice(0, BASELINE_TICKETS))
      recipient.validate(signed, params.seed, params.expirationBlock);
  });
  // Both validated the same tickets (the baseline a prefix of each run's): they must agree on every win.
  const oursOnPrefix = batches.reduce((n, { params, tickets }) => {
    const recipient = new TicketRecipient(options);
    return n + tickets.slice(0, BASELINE_TICKETS).filter((t) => recipient.validate(t, params, context).wins).length;
  }, 0);
  const baselineOnPrefix = batches.reduce((n, { params, tickets }) => {
    const recipient = new BaselineRecipient();
    return (
      n +
      tickets.slice(0, BASELINE_TICKETS).filter((t) => recipient.validate(t, params.seed, params.expirationBlock))
        .length
    );
  }, 0);
  if (oursOnPrefix !== baselineOnPrefix) {
    throw new Error(`the two implementations disagree on wins: ${oursOnPrefix} vs ${baselineOnPrefix}`);
  }

  const perSecond = (tickets: number, ms: number) => Math.round((tickets * 1000) / ms);
  const rows = [
    {
      operation: "tickets validated per second",
      ours: perSecond(TICKETS, oursValidate),
      baseline: perSecond(BASELINE_TICKETS, baseValidate),
    },
    {
      operation: "tickets created and signed per second",
      ours: perSecond(TICKETS, oursCreate),
      baseline: perSecond(BASELINE_TICKETS, baseCreate),
    },
  ];
  console.log(
    `offchain/pm vs ethers' generic helpers, ${TICKETS} (baseline ${BASELINE_TICKETS}) tickets per run, ` +
      `best of ${RUNS}, one thread`,
  );
  console.log(`native secp256k1 and keccak: ${nativeCrypto() ? "yes" : "NO (pure-JS fallback)"}\n`);
  console.log(`${"operation".padEnd(40)}${"ours".padStart(10)}${"baseline".padStart(10)}${"ratio".padStart(8)}`);
  for (const row of rows) {
    const ratio = (row.ours / row.baseline).toFixed(1) + "x";
    console.log(
      `${row.operation.padEnd(40)}${String(row.ours).padStart(10)}${String(row.baseline).padStart(10)}${ratio.padStart(8)}`,
    );
  }
  const validated = rows[0].ours;
  console.log(
    `\nvalidation target >= ${TARGET_VALIDATED_PER_SECOND}/s: ${validated >= TARGET_VALIDATED_PER_SECOND ? "met" : "NOT met"}` +
      ` (${(validated / TARGET_VALIDATED_PER_SECOND).toFixed(2)}x)`,
  );

  const file = path.join(__dirname, "results", "tickets.json");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const result = {
    measuredAt: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, nativeCrypto: nativeCrypto() },
    ticketsPerRun: { ours: TICKETS, baseline: BASELINE_TICKETS },
    runs: RUNS,
    target: { validatedPerSecond: TARGET_VALIDATED_PER_SECOND },
    rows: rows.map((row) => ({ ...row, ratio: Number((row.ours / row.baseline).toFixed(2)) })),
  };
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

main();
