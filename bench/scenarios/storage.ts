/**
 * Storage growth on agentroom: what one delta costs as a session grows to 100k deltas and as one
 * text part grows to 1 MB (it must stay flat), and the room's database size along the way,
 * including across log compaction. The database is read from workerd's persisted SQLite file (a
 * copy, opened read-only with node:sqlite), so the product needs no bench-only route.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuSeconds } from "../lib/workerd.ts";
import { median, nowMs } from "../lib/stats.ts";
import { BenchAgent, assistantMessage, createSession, delta, textPart, type Agentroom } from "../systems/agentroom.ts";

const BATCH = 100;

export type DbSize = { fileBytes: number; walBytes: number; usedBytes: number; tables: Record<string, number> };

export type GrowthWindow = {
  /** Deltas (or text bytes) committed when this window ended. */
  at: number;
  /** Median ack time of one batch of 100 deltas / 100 (µs per delta). */
  ackUsPerDelta: number;
  /** The room's workerd CPU time over the window / deltas in it (µs per delta). */
  cpuUsPerDelta: number;
  db?: DbSize;
};

export type GrowthResult = { label: string; windows: GrowthWindow[]; spreadPct: number };

function roomFiles(persistDir: string): string[] {
  const dir = join(persistDir, "v3/do");
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const d of readdirSync(dir)) {
    if (!d.endsWith("-SessionRoom")) continue;
    for (const f of readdirSync(join(dir, d))) if (f.endsWith(".sqlite") && f !== "metadata.sqlite") out.push(join(dir, d, f));
  }
  return out;
}

/** Sizes of one room's database: file, WAL, and pages in use (what survives a VACUUM). */
export async function dbSize(file: string): Promise<DbSize> {
  const { DatabaseSync } = await import("node:sqlite");
  const tmp = mkdtempSync(join(tmpdir(), "bench-db-"));
  try {
    const copy = join(tmp, "db.sqlite");
    copyFileSync(file, copy);
    const wal = file + "-wal";
    const walBytes = existsSync(wal) ? statSync(wal).size : 0;
    if (walBytes) copyFileSync(wal, copy + "-wal");
    const db = new DatabaseSync(copy);
    const one = (sql: string) => Object.values(db.prepare(sql).get() ?? {})[0] as number;
    const pageSize = one("PRAGMA page_size");
    const used = (one("PRAGMA page_count") - one("PRAGMA freelist_count")) * pageSize;
    const tables: Record<string, number> = {};
    for (const row of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'").all()) {
      const name = String((row as { name: string }).name);
      tables[name] = one(`SELECT COUNT(*) FROM "${name.replace(/"/g, '""')}"`);
    }
    db.close();
    return { fileBytes: statSync(file).size, walBytes, usedBytes: used, tables };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

type Plan = {
  label: string;
  total: number;
  /** Text of delta i. */
  text: (i: number) => string;
  /** Called before delta i is sent: may return events to send first (a new part or message). */
  before: (i: number) => unknown[];
  checkpoints: number[];
  /** Where delta i goes. */
  target: (i: number) => { m: string; p: string };
  /** Reported position of a checkpoint (deltas, or text bytes). */
  position: (i: number) => number;
};

async function grow(ar: Agentroom, persistDir: string | undefined, innerPid: number | undefined, plan: Plan): Promise<GrowthResult> {
  const before = new Set(persistDir ? roomFiles(persistDir) : []);
  const s = await createSession(ar, `bench ${plan.label}`);
  const agent = await BenchAgent.join(ar, s.id);
  const file = persistDir ? roomFiles(persistDir).find((f) => !before.has(f)) : undefined;
  const windows: GrowthWindow[] = [];
  try {
    let acks: number[] = [];
    let cpu0 = cpuSeconds(innerPid ?? 0);
    let from = 0;
    let cp = 0;
    for (let i = 0; i < plan.total; i += BATCH) {
      const events: unknown[] = [];
      for (let j = i; j < Math.min(plan.total, i + BATCH); j++) {
        events.push(...plan.before(j));
        const t = plan.target(j);
        events.push(delta(t.m, t.p, plan.text(j)));
      }
      const t0 = nowMs();
      agent.send(events);
      await agent.settled();
      acks.push(nowMs() - t0);
      const done = Math.min(plan.total, i + BATCH);
      if (cp < plan.checkpoints.length && done >= plan.checkpoints[cp]!) {
        const cpu1 = cpuSeconds(innerPid ?? 0);
        const w: GrowthWindow = {
          at: plan.position(done),
          ackUsPerDelta: (median(acks) / BATCH) * 1000,
          cpuUsPerDelta: ((cpu1 - cpu0) / (done - from)) * 1e6,
          db: file ? await dbSize(file) : undefined,
        };
        windows.push(w);
        console.log(
          `  ${plan.label} @ ${w.at}: ${w.ackUsPerDelta.toFixed(1)} µs/delta (ack), ${w.cpuUsPerDelta.toFixed(1)} µs/delta (room CPU)` +
            (w.db ? `, db ${(w.db.usedBytes / 1024).toFixed(0)} KB used / ${(w.db.fileBytes / 1024).toFixed(0)} KB file + ${(w.db.walBytes / 1024).toFixed(0)} KB WAL, events ${w.db.tables.events ?? "?"}` : ""),
        );
        acks = [];
        cpu0 = cpuSeconds(innerPid ?? 0);
        from = done;
        cp++;
      }
    }
  } finally {
    await agent.close();
  }
  const costs = windows.map((w) => w.ackUsPerDelta);
  const spreadPct = costs.length ? ((Math.max(...costs) - Math.min(...costs)) / Math.min(...costs)) * 100 : NaN;
  return { label: plan.label, windows, spreadPct };
}

/** 100k deltas in one session: a new text part every 1,000 deltas, a new message every 10 parts. */
export function sessionGrowth(ar: Agentroom, persistDir: string | undefined, innerPid: number | undefined, total = 100_000): Promise<GrowthResult> {
  const partOf = (i: number) => Math.floor(i / 1_000);
  const msgOf = (i: number) => Math.floor(partOf(i) / 10);
  return grow(ar, persistDir, innerPid, {
    label: "session deltas",
    total,
    text: () => "lorem ip",
    before: (i) => {
      if (i % 1_000 !== 0) return [];
      const ev: unknown[] = [];
      if (partOf(i) % 10 === 0) ev.push(assistantMessage(`m${msgOf(i)}`));
      ev.push(textPart(`m${msgOf(i)}`, `p${partOf(i)}`));
      return ev;
    },
    target: (i) => ({ m: `m${msgOf(i)}`, p: `p${partOf(i)}` }),
    checkpoints: [1_000, 10_000, 24_900, 25_200, 50_000, 100_000].filter((c) => c <= total),
    position: (i) => i,
  });
}

/** One text part growing to 1 MB in deltas of 100 characters. */
export function partGrowth(ar: Agentroom, persistDir: string | undefined, innerPid: number | undefined, bytes = 1_000_000): Promise<GrowthResult> {
  const size = 100;
  const chunk = "x".repeat(size - 1) + "\n";
  const total = Math.ceil(bytes / size);
  return grow(ar, persistDir, innerPid, {
    label: "one part bytes",
    total,
    text: () => chunk,
    before: (i) => (i === 0 ? [assistantMessage("m0"), textPart("m0", "p0")] : []),
    target: () => ({ m: "m0", p: "p0" }),
    checkpoints: [10_000, 100_000, 500_000, 1_000_000].map((b) => b / size).filter((c) => c <= total),
    position: (i) => i * size,
  });
}
