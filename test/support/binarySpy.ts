/**
 * A wrapper around a real binary (ffmpeg, ffprobe) that records every run before it `exec`s the real thing, so a test
 * can tell when a transcode has actually started and which process id it has (to check later that it was killed).
 * Point a daemon at it with FFMPEG_PATH, or put its path into a MediaTools object in process.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface SpiedRun {
  pid: number;
  /** The arguments, joined with spaces. */
  args: string;
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export class BinarySpy {
  readonly dir: string;
  /** The wrapper script: use it where the real binary's path would go. */
  readonly path: string;
  private readonly logFile: string;
  private readonly watchers = new Set<fs.FSWatcher>();

  constructor(realBinary: string, name = path.basename(realBinary)) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `streamflow-spy-${name}-`));
    this.logFile = path.join(this.dir, "runs.log");
    fs.writeFileSync(this.logFile, "");
    this.path = path.join(this.dir, name);
    // `exec` keeps the shell's pid, so $$ is the pid of the real binary's process.
    const script = `#!/bin/sh\nprintf '%s %s\\n' "$$" "$*" >> ${shellQuote(this.logFile)}\nexec ${shellQuote(realBinary)} "$@"\n`;
    fs.writeFileSync(this.path, script, { mode: 0o755 });
  }

  /** Every run so far, oldest first. */
  runs(): SpiedRun[] {
    return fs
      .readFileSync(this.logFile, "utf8")
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => {
        const space = line.indexOf(" ");
        return { pid: Number(line.slice(0, space)), args: line.slice(space + 1) };
      });
  }

  /** Resolves with the first run (past or future) that matches, woken by changes to the run log. */
  waitForRun(predicate: (run: SpiedRun) => boolean): Promise<SpiedRun> {
    return new Promise((resolve, reject) => {
      const watcher = fs.watch(this.logFile);
      this.watchers.add(watcher);
      const done = () => {
        watcher.close();
        this.watchers.delete(watcher);
      };
      const check = () => {
        const found = this.runs().find(predicate);
        if (found) {
          done();
          resolve(found);
        }
      };
      watcher.on("change", check);
      watcher.on("error", (error) => {
        done();
        reject(error);
      });
      check(); // the run may have been logged before the watcher was set up
    });
  }

  /** Stops any pending waits and removes the wrapper. */
  dispose(): void {
    for (const watcher of this.watchers) watcher.close();
    this.watchers.clear();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The arguments of a transcode run (the probes and capability queries have no filter graph). */
export const isTranscode = (run: SpiedRun): boolean => run.args.includes("-filter_complex");

/** Whether a process with this id still exists (a killed and reaped child does not). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  }
}
