// Free loopback ports for the servers we start (wrangler/workerd, its inspector, test hosts).
//
// Why not just `listen(0)`: the kernel hands out listen(0) ports from the same ephemeral range it
// uses for the source ports of outgoing connections. Between our probe closing and wrangler
// binding, any of the hundreds of client sockets a test or bench opens can take that port, and
// wrangler dies with "Address already in use" (seen in CI). Ports below the ephemeral range are
// never given to outgoing sockets, so a probe there stays valid until someone binds it on purpose.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Linux's default ephemeral range starts at 32768; read the real one where we can. */
function ephemeralStart(): number {
  try {
    const [lo] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const n = Number(lo);
    if (Number.isInteger(n) && n > 12_000) return n;
  } catch {
    // not Linux, or no /proc
  }
  return 32_768;
}

/** Lowest port we pick: clear of the well-known and common dev ports (3000, 5173, 8787, 9229…). */
const LOWEST_PICKED = 10_000;
/** Random tries before giving up on the range and falling back to listen(0). */
const PICK_ATTEMPTS = 50;

/** True when nothing listens on 127.0.0.1:port. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => res(false));
    srv.listen({ port, host: "127.0.0.1", exclusive: true }, () => srv.close(() => res(true)));
  });
}

function kernelPort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** A free TCP port on 127.0.0.1, below the ephemeral range when there is room for one. */
export async function freePort(): Promise<number> {
  const top = ephemeralStart();
  if (top - LOWEST_PICKED >= 1_000) {
    for (let i = 0; i < PICK_ATTEMPTS; i++) {
      const port = LOWEST_PICKED + Math.floor(Math.random() * (top - LOWEST_PICKED));
      if (await portFree(port)) return port;
    }
  }
  return kernelPort();
}

/** wrangler's message when its port (or its inspector's) is taken. */
export const ADDRESS_IN_USE = /address already in use|EADDRINUSE/i;
