/**
 * Misbehaving HTTP clients on raw sockets, for the fault suite: silent connections, slow-loris clients that trickle
 * their headers or body, from a chosen loopback address (127.0.0.2 and up are loopback on Linux), so that a flood and
 * a well-behaved client come from different addresses.
 */
import net from "node:net";

export interface RawEnd {
  /** The status line the server sent before closing, if any ("HTTP/1.1 408 Request Timeout"). */
  statusLine?: string;
  /** Milliseconds from connect to close. */
  openMs: number;
}

export type Trickle =
  /** Connect and send nothing. */
  | { kind: "silent" }
  /** A request line, then one header line every `everyMs`, never the blank line that ends the headers. */
  | { kind: "headers"; everyMs: number }
  /** Complete headers announcing a body, then one byte of it every `everyMs`. */
  | { kind: "body"; everyMs: number; method: string; path: string; contentType: string };

export interface RawConnection {
  /** Resolves once the server (or the network) has closed it. */
  readonly ended: Promise<RawEnd>;
  readonly isOpen: () => boolean;
  destroy(): void;
}

/** Opens one connection to `url`'s host and port from `localAddress` and misbehaves as `trickle` says. */
export function openRaw(url: string, localAddress: string, trickle: Trickle): RawConnection {
  const { hostname, port } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port), localAddress });
  let connectedAt = Date.now();
  let received = "";
  let timer: NodeJS.Timeout | undefined;
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
  socket.on("error", () => undefined); // a reset is one of the ways a refusal looks
  socket.on("connect", () => {
    connectedAt = Date.now();
    if (trickle.kind === "silent") return;
    const host = `${hostname}:${port}`;
    if (trickle.kind === "headers") {
      socket.write(`GET /metrics HTTP/1.1\r\nHost: ${host}\r\n`);
      let n = 0;
      timer = setInterval(() => socket.writable && socket.write(`X-Trickle-${n++}: x\r\n`), trickle.everyMs);
    } else {
      socket.write(
        `${trickle.method} ${trickle.path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: ${trickle.contentType}\r\n` +
          `Content-Length: 1000000\r\n\r\n`,
      );
      timer = setInterval(() => socket.writable && socket.write("G"), trickle.everyMs);
    }
  });
  const ended = new Promise<RawEnd>((resolve) =>
    socket.once("close", () => {
      clearInterval(timer);
      const statusLine = received.split("\r\n")[0] || undefined;
      resolve({ statusLine, openMs: Date.now() - connectedAt });
    }),
  );
  return { ended, isOpen: () => !socket.destroyed, destroy: () => socket.destroy() };
}

/** `count` connections at once; destroyAll in a finally so that a failing test leaves nothing open. */
export class RawFlood {
  readonly connections: RawConnection[];

  constructor(url: string, localAddress: string, count: number, trickle: Trickle) {
    this.connections = Array.from({ length: count }, () => openRaw(url, localAddress, trickle));
  }

  open(): number {
    return this.connections.filter((c) => c.isOpen()).length;
  }

  ends(): Promise<RawEnd[]> {
    return Promise.all(this.connections.map((c) => c.ended));
  }

  destroyAll(): void {
    for (const c of this.connections) c.destroy();
  }
}
