/**
 * The demo's dead-man switch, run as its own process (in its own process group, so that neither Ctrl-C nor a kill of
 * the demo's group reaches it). The demo tells it, on stdin, which process groups it started ("+pid") and which are
 * gone ("-pid"). When stdin closes, the demo has exited, however it died (even SIGKILL): whatever it left running
 * gets SIGTERM, then SIGKILL, and the watchdog exits. After a clean exit there is nothing left to kill.
 */
const GRACE_MS = 5000;

function alive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pgids: Iterable<number>, name: NodeJS.Signals): void {
  for (const pgid of pgids) {
    try {
      process.kill(-pgid, name);
    } catch {
      // gone already
    }
  }
}

function main(): void {
  const groups = new Set<number>();
  let pending = "";
  // Not ours to act on: only the demo's exit (stdin closing) ends the watch.
  for (const name of ["SIGINT", "SIGHUP", "SIGTERM"] as const) process.on(name, () => {});
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      const pgid = Number(line.slice(1));
      if (!Number.isInteger(pgid) || pgid <= 1) continue;
      if (line.startsWith("+")) groups.add(pgid);
      else if (line.startsWith("-")) groups.delete(pgid);
    }
  });
  process.stdin.on("end", () => {
    const left = [...groups].filter(alive);
    if (left.length === 0) process.exit(0);
    signal(left, "SIGTERM");
    setTimeout(() => {
      signal(left.filter(alive), "SIGKILL");
      process.exit(0);
    }, GRACE_MS);
  });
}

main();
