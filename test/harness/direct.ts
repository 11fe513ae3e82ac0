/**
 * The Worker's own workerd port, behind `wrangler dev`'s proxy. `wrangler dev` runs two workerd
 * processes in one process group: a proxy on the public port that forwards every request and
 * WebSocket frame, and the Worker's own workerd on a random port. Production has no such hop, so
 * load tests that measure the room can talk to the second one directly (scripts/procs.ts finds
 * it; here we start from the public port, which is all a WorkerHandle knows).
 */
import { wranglerWorkerds } from "../../scripts/procs.ts";

/**
 * The entry port of the workerd that runs the Worker behind the wrangler proxy on `publicPort`,
 * checked with a request (workerd's debug port answers "Not yet implemented").
 */
export async function directPort(publicPort: number): Promise<number> {
  const found = wranglerWorkerds(publicPort);
  if (!found) throw new Error(`no wrangler workerd pair listens on ${publicPort}`);
  const port = found.innerPort;
  const probe = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) });
  if (!probe.ok) throw new Error(`port ${port} of workerd ${found.inner} is not the Worker's entry (HTTP ${probe.status})`);
  await probe.body?.cancel();
  return port;
}
