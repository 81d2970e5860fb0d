import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { stripVTControlCharacters } from "node:util";

export const ROOT = path.resolve(__dirname, "..", "..");
const HARDHAT = path.join(ROOT, "node_modules", ".bin", "hardhat");

import { freePort } from "../../scripts/lib/net";

export { freePort };

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the hardhat CLI to completion. */
export function runHardhat(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(HARDHAT, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.once("error", reject);
    // CI may force colours on (FORCE_COLOR); tests match the words, not the escape codes.
    child.once("close", (code) =>
      resolve({ code, stdout: stripVTControlCharacters(stdout), stderr: stripVTControlCharacters(stderr) }),
    );
  });
}

export interface HardhatNode {
  url: string;
  stop(): Promise<void>;
}

/** Starts `hardhat node` on a free port and resolves once it announces its JSON-RPC server. */
export async function startHardhatNode(): Promise<HardhatNode> {
  const port = await freePort();
  const child: ChildProcess = spawn(HARDHAT, ["node", "--hostname", "127.0.0.1", "--port", String(port)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += stripVTControlCharacters(chunk.toString());
      if (output.includes("Started HTTP and WebSocket JSON-RPC server")) {
        child.stdout!.off("data", onData);
        child.stdout!.resume(); // keep draining so the node never blocks on a full pipe
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk) => (output += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`hardhat node exited with ${code} before starting:\n${output}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => stopProcess(child),
  };
}

export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
