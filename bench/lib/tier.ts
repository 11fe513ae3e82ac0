/**
 * The relay tier across processes: the room's Worker (party/worker.ts: SessionRoom, Lobby) and the
 * relays' Worker (party/relay-worker.ts: SessionRelay) each under its own `wrangler dev`, so the
 * relays really run beside the room (all Durable Objects of one `wrangler dev` share one thread).
 * Each binds the other's classes by script name through wrangler's dev registry. Viewers connect
 * to the relays' Worker; the agent (and owners) to the room's.
 *
 * Script names carry this process's pid: other people's `wrangler dev` sessions on the machine
 * share the dev registry, and a binding must not find their Worker.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startWrangler, stripJsonComments, type RunningWorker } from "./workerd.ts";

const ROOT = resolve(import.meta.dirname, "../..");

export type Tier = {
  room: RunningWorker;
  relays: RunningWorker;
  /** Starts the relays' process again with these variables on top (e.g. a per-relay send budget). */
  restartRelays(extra: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
};

type DoBinding = { name: string; class_name: string; script_name?: string };

/** Writes both configs into `dir`, derived from wrangler.jsonc so limits and flags stay in step. */
function configs(dir: string): { room: string; relays: string } {
  const base = JSON.parse(stripJsonComments(readFileSync(join(ROOT, "wrangler.jsonc"), "utf8"))) as Record<string, unknown>;
  const roomName = `agentroom-bench-room-${process.pid}`;
  const relaysName = `agentroom-bench-relays-${process.pid}`;
  const common = { compatibility_date: base.compatibility_date, compatibility_flags: base.compatibility_flags, vars: base.vars };
  const bind = (b: DoBinding[]) => ({ bindings: b });
  const room = {
    ...common,
    name: roomName,
    main: join(ROOT, "party/worker.ts"),
    durable_objects: bind([
      { name: "SessionRoom", class_name: "SessionRoom" },
      { name: "Lobby", class_name: "Lobby" },
      { name: "SessionRelay", class_name: "SessionRelay", script_name: relaysName },
    ]),
    migrations: [{ tag: "v1", new_sqlite_classes: ["SessionRoom", "Lobby"] }],
  };
  const relays = {
    ...common,
    name: relaysName,
    main: join(ROOT, "party/relay-worker.ts"),
    durable_objects: bind([
      { name: "SessionRelay", class_name: "SessionRelay" },
      { name: "SessionRoom", class_name: "SessionRoom", script_name: roomName },
      { name: "Lobby", class_name: "Lobby", script_name: roomName },
    ]),
    migrations: [{ tag: "v1", new_sqlite_classes: ["SessionRelay"] }],
  };
  mkdirSync(dir, { recursive: true });
  const paths = { room: join(dir, "room.json"), relays: join(dir, "relays.json") };
  writeFileSync(paths.room, JSON.stringify(room, null, 2));
  writeFileSync(paths.relays, JSON.stringify(relays, null, 2));
  return paths;
}

export async function startTier(opts: { persistDir: string; vars: Record<string, string>; logDir: string }): Promise<Tier> {
  const cfg = configs(join(opts.persistDir, "configs"));
  const room = await startWrangler({ config: cfg.room, persistDir: join(opts.persistDir, "room"), vars: opts.vars, logFile: join(opts.logDir, "wrangler-tier-room.log") });
  const startRelays = (extra: Record<string, string>) =>
    startWrangler({ config: cfg.relays, persistDir: join(opts.persistDir, "relays"), vars: { ...opts.vars, ...extra }, logFile: join(opts.logDir, "wrangler-tier-relays.log") });
  let relays: RunningWorker;
  try {
    relays = await startRelays({});
  } catch (e) {
    await room.stop();
    throw e;
  }
  const tier: Tier = {
    room,
    relays,
    async restartRelays(extra) {
      await tier.relays.stop();
      tier.relays = await startRelays(extra);
    },
    async stop() {
      await tier.relays.stop();
      await room.stop();
    },
  };
  return tier;
}
