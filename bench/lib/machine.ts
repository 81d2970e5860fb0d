/** What a benchmark's results record about where they were measured: the machine and the code. */
import { execFileSync } from "node:child_process";
import os from "node:os";

import { round2 } from "./stats";

export function machineInfo(loadavgAtStart: readonly number[]) {
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGiB: round2(os.totalmem() / 2 ** 30),
    node: process.version,
    loadavgAtStart: loadavgAtStart.map(round2),
    loadavgAtEnd: os.loadavg().map(round2),
  };
}

/** The commit measured, and the files under offchain/ that differ from it (uncommitted work changes the figures). */
export function codeState(root: string): { commit: string; uncommittedOffchain: string[] } | null {
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: root, encoding: "utf8" });
    // Porcelain lines are "XY path": keep the columns (no trimming), the path starts at the fourth character.
    const changed = git("status", "--porcelain", "--", "offchain").split("\n");
    return {
      commit: git("rev-parse", "HEAD").trim(),
      uncommittedOffchain: changed.filter((line) => line.length > 3).map((line) => line.slice(3)),
    };
  } catch {
    return null;
  }
}
