/** pino loggers for the daemons: JSON lines on stdout, secrets redacted wherever they might appear. */
import pino, { type Logger } from "pino";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const REDACT = [
  "secret",
  "*.secret",
  "password",
  "*.password",
  "privateKey",
  "*.privateKey",
  "authorization",
  "*.authorization",
  "headers.authorization",
];

export function createLogger(role: string, level = "info"): Logger {
  // Synchronous writes: a daemon logs a few lines per segment, and its last lines must not be lost at exit.
  const destination = pino.destination({ dest: 1, sync: true });
  return pino(
    {
      name: `streamflow-${role}`,
      level,
      redact: { paths: REDACT, censor: "[redacted]" },
      base: { role, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
