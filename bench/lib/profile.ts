/**
 * CPU profiles of the Worker's own isolate, through workerd's V8 inspector (the inner workerd
 * opens one on a random port when wrangler runs it). Used to find out *why* a figure misses its
 * target: the summary lists self and inclusive time per function.
 */
import WebSocket from "ws";
import { writeFileSync } from "node:fs";

type CallFrame = { functionName: string; url: string; lineNumber: number };
type ProfileNode = { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] };
type CpuProfile = { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] };

export type ProfileEntry = { fn: string; selfMs: number; totalMs: number };
export type ProfileSummary = { durationMs: number; sampledMs: number; top: ProfileEntry[] };

/**
 * Profiles through wrangler's inspector proxy (`--inspector-port`): workerd takes one inspector
 * session and wrangler holds it, so a second direct connection is dropped. workerd echoes
 * `Profiler.enable`/`start` without a result; `Profiler.stop` carries the profile.
 */
export async function startProfile(inspectorPort: number, intervalUs = 200): Promise<{ stop(saveTo?: string): Promise<ProfileSummary> }> {
  const list = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  if (!list[0]) throw new Error("no inspector target");
  const ws = new WebSocket(list[0].webSocketDebuggerUrl, { perMessageDeflate: false, maxPayload: 1 << 30, origin: `http://127.0.0.1:${inspectorPort}` });
  await new Promise<void>((res, rej) => (ws.once("open", () => res()), ws.on("error", rej)));
  let id = 0;
  const pending = new Map<number, (r: unknown) => void>();
  ws.on("message", (d: Buffer) => {
    const msg = JSON.parse(d.toString()) as { id?: number; result?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  });
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((res) => {
      const n = ++id;
      pending.set(n, res);
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: intervalUs });
  await call("Profiler.start");
  return {
    async stop(saveTo?: string) {
      const { profile } = (await call("Profiler.stop")) as { profile: CpuProfile };
      ws.close();
      if (saveTo) writeFileSync(saveTo, JSON.stringify(profile));
      return summarize(profile);
    },
  };
}

function summarize(p: CpuProfile): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  // Sample time per node from timeDeltas (µs); falls back to hit counts.
  const self = new Map<number, number>();
  if (p.samples && p.timeDeltas) {
    for (let i = 0; i < p.samples.length; i++) {
      const dt = p.timeDeltas[i + 1] ?? 0;
      self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
    }
  }
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: ProfileNode) => {
    const f = n.callFrame;
    const file = f.url ? f.url.split("/").slice(-2).join("/") : "";
    return `${f.functionName || "(anonymous)"}${file ? ` ${file}:${f.lineNumber + 1}` : ""}`;
  };
  const selfBy = new Map<string, number>();
  const totalBy = new Map<string, number>();
  let sampled = 0;
  for (const [nodeId, us] of self) {
    const n = byId.get(nodeId)!;
    sampled += us;
    const key = name(n);
    selfBy.set(key, (selfBy.get(key) ?? 0) + us);
    // Inclusive: charge every distinct function on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = nodeId; cur !== undefined; cur = parent.get(cur)) {
      const k = name(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      totalBy.set(k, (totalBy.get(k) ?? 0) + us);
    }
  }
  const top = [...totalBy.keys()]
    .map((fn) => ({ fn, selfMs: (selfBy.get(fn) ?? 0) / 1000, totalMs: (totalBy.get(fn) ?? 0) / 1000 }))
    .filter((e) => !e.fn.startsWith("(root)") && !e.fn.startsWith("(program)"))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, 30);
  return { durationMs: (p.endTime - p.startTime) / 1000, sampledMs: sampled / 1000, top };
}
