/**
 * Storage: migrations, large fields in chunks, state read back by a fresh object instance, the
 * log's compaction, deletion.
 */
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { MIGRATIONS, SCHEMA_VERSION, hasSchema, migrate } from "./migrations.ts";
import type { SessionRoom } from "../session-room.ts";
import type { Env } from "../env.ts";
import { api, batch, connect, connectAgent, createSession, delta, msg, textPart, token } from "../test-helpers.ts";

const ns = () => (env as unknown as Env).SessionRoom;

describe("migrations", () => {
  it("create every table once, record the version, and are idempotent", async () => {
    const stub = ns().getByName("migrations-fresh");
    await runInDurableObject(stub, (_room: SessionRoom, state) => {
      const sql = state.storage.sql;
      expect(hasSchema(sql)).toBe(false);
      expect(migrate(sql)).toBe(SCHEMA_VERSION);
      expect(migrate(sql)).toBe(SCHEMA_VERSION);
      const tables = sql
        .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
        .toArray()
        .map((r) => r.name);
      for (const t of ["meta", "events", "messages", "parts", "deltas", "chunks", "queue", "prompt_ids", "requests", "batches", "eids", "schema_version"]) {
        expect(tables).toContain(t);
      }
      expect(sql.exec<{ version: number }>(`SELECT version FROM schema_version`).one().version).toBe(MIGRATIONS.length);
    });
  });

  it("upgrade storage written at an older version", async () => {
    const stub = ns().getByName("migrations-old");
    await runInDurableObject(stub, (_room: SessionRoom, state) => {
      const sql = state.storage.sql;
      sql.exec(`CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)`);
      sql.exec(`INSERT INTO schema_version VALUES (1, 0)`);
      expect(migrate(sql)).toBe(SCHEMA_VERSION);
      expect(sql.exec(`SELECT 1 FROM sqlite_master WHERE name = 'events'`).toArray()).toHaveLength(1);
    });
  });

  it("a room never created holds no tables and refuses connections", async () => {
    const stub = ns().getByName("never-created");
    expect(await stub.getSession()).toBeNull();
    await runInDurableObject(stub, (_room: SessionRoom, state) => {
      expect(hasSchema(state.storage.sql)).toBe(false);
    });
  });
});

describe("large tool outputs", () => {
  it("a 5 MB tool output is stored in chunks and read back intact", async () => {
    const { id, ownerToken } = await createSession();
    const agent = await connectAgent(id);
    // Varied content, so a wrong chunk order or a lost chunk shows.
    let output = "";
    for (let i = 0; output.length < 5 * 1024 * 1024; i++) output += `line ${i} ${"abcdefghij".repeat(i % 7)}\n`;
    const part = {
      id: "tool1",
      messageID: "m1",
      type: "tool",
      callID: "c1",
      tool: "bash",
      state: { status: "completed", input: { command: "cat big" }, output, title: "cat", metadata: {}, time: { start: 1, end: 2 } },
    };
    await batch(agent, [msg("m1"), { type: "part.upsert", part }]);
    // Clients get a preview with the marker.
    const v = await connect(id, await token(id, "viewer"));
    await v.waitType("caught-up");
    const snap = v.ofType<{ snapshot: { messages: { parts: { state: { output: string }; truncated?: { field: string; fullChars: number }[] }[] }[] } }>("snapshot")[0]!;
    const sent = snap.snapshot.messages[0]!.parts[0]!;
    expect(sent.truncated).toEqual([{ field: "state.output", fullChars: output.length }]);
    expect(sent.state.output.length).toBe(64 * 1024);
    expect(output.startsWith(sent.state.output)).toBe(true);
    // No stored value is anywhere near SQLite's 2 MB cap.
    await runInDurableObject(ns().getByName(id), (_r: SessionRoom, state) => {
      const max = state.storage.sql.exec<{ m: number }>(`SELECT MAX(LENGTH(data)) AS m FROM chunks`).one().m;
      expect(max).toBeLessThanOrEqual(512 * 1024);
      const rows = state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM chunks WHERE part_id = 'tool1'`).one().n;
      expect(rows).toBe(Math.ceil(output.length / (512 * 1024)));
    });
    // The full part over HTTP, byte for byte.
    const res = await api(`/api/sessions/${id}/parts/tool1`, { token: ownerToken });
    expect(res.status).toBe(200);
    const full = (await res.json()) as { part: { state: { output: string }; truncated?: unknown } };
    expect(full.part.state.output.length).toBe(output.length);
    expect(full.part.state.output === output).toBe(true);
    expect(full.part.truncated).toBeUndefined();
  });

  it("a snapshot stays under the frame cap even when one message holds many large outputs", async () => {
    const { id, ownerToken } = await createSession();
    const agent = await connectAgent(id);
    const out = (i: number) => `output ${i} `.repeat(10_000); // ~100 K chars each, 64 K preview
    const parts = Array.from({ length: 20 }, (_, i) => ({
      type: "part.upsert",
      part: { id: `t${i}`, messageID: "big", type: "tool", callID: `c${i}`, tool: "bash", state: { status: "completed", input: {}, output: out(i), title: "x", metadata: {}, time: { start: 1, end: 2 } } },
    }));
    await batch(agent, [msg("small"), msg("big"), ...parts]);
    const v = await connect(id, await token(id, "viewer"));
    await v.waitType("caught-up");
    const raw = JSON.stringify(v.ofType("snapshot")[0]);
    expect(raw.length).toBeLessThanOrEqual(900 * 1024);
    const snap = v.ofType<{ snapshot: { messages: { info: { id: string }; parts: { state: { output: string }; truncated: { field: string; fullChars: number }[] }[] }[] } }>("snapshot")[0]!.snapshot;
    const big = snap.messages.at(-1)!;
    expect(big.info.id).toBe("big");
    expect(big.parts).toHaveLength(20);
    expect(big.parts[3]!.truncated).toEqual([{ field: "state.output", fullChars: out(3).length }]);
    expect(out(3).startsWith(big.parts[3]!.state.output)).toBe(true);
    const full = (await (await api(`/api/sessions/${id}/parts/t3`, { token: ownerToken })).json()) as { part: { state: { output: string } } };
    expect(full.part.state.output).toBe(out(3));
    // A history page over the same messages fits too (fewer messages, shorter previews).
    const from = v.frames.length;
    const h = await v.request({ type: "history", ref: "h", limit: 50 });
    expect(JSON.stringify(v.frames.slice(from).find((f) => f.type === "history")).length).toBeLessThanOrEqual(900 * 1024);
    const ids = (h.messages as { info: { id: string } }[]).map((m) => m.info.id);
    expect(ids.at(-1)).toBe("big");
    expect(h.hasMore).toBe(ids.length < 2);
  });

  it("a long streamed text is folded into chunks when its message completes", async () => {
    const { id, ownerToken } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    const piece = "0123456789".repeat(1000); // 10 KB
    for (let i = 0; i < 10; i++) await batch(agent, Array.from({ length: 5 }, () => delta("m1", "p1", piece)));
    await batch(agent, [msg("m1", "assistant", 2)]);
    const res = await api(`/api/sessions/${id}/parts/p1`, { token: ownerToken });
    const full = (await res.json()) as { part: { text: string } };
    expect(full.part.text).toBe(piece.repeat(50));
    await runInDurableObject(ns().getByName(id), (_r: SessionRoom, state) => {
      expect(state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM pending_parts`).one().n).toBe(0);
    });
  });
});

describe("durability", () => {
  it("state survives a fresh object instance that reads only storage", async () => {
    const { id } = await createSession({ title: "durable" });
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1"), delta("m1", "p1", "kept "), delta("m1", "p1", "text")]);
    await batch(agent, [{ type: "permission.asked", request: { id: "perm", permission: "bash", patterns: [], createdAt: 1 } }]);
    const d = await connect(id, await token(id, "driver"));
    await d.waitType("caught-up");
    await d.request({ type: "prompt", ref: "p", id: "queued-1", text: "next" });
    await d.request({ type: "mode.set", ref: "m", mode: "plan" });
    await d.request({ type: "chat", ref: "c1", id: "chat-kept", text: "still here after eviction", partID: "p1" });
    await d.request({ type: "chat", ref: "c2", id: "chat-gone", text: "deleted before eviction" });
    await d.request({ type: "chat.delete", ref: "c3", id: "chat-gone" });
    const stub = ns().getByName(id);
    const before = await runInDurableObject(stub, (room: SessionRoom) => room.snapshotFrame());
    await evictDurableObject(stub, { webSockets: "close" });
    const after = await runInDurableObject(stub, (room: SessionRoom) => {
      // A new instance: nothing cached yet.
      return room.snapshotFrame();
    });
    const b = JSON.parse(before) as { snapshot: Record<string, unknown> & { session: Record<string, unknown> } };
    const a = JSON.parse(after) as typeof b;
    // The agent's socket closed with the old instance: it is offline now; everything else is equal.
    expect(a.snapshot.session.agentOnline).toBe(false);
    expect({ ...a.snapshot, seq: 0, session: { ...a.snapshot.session, agentOnline: true, updatedAt: 0 } }).toEqual({
      ...b.snapshot,
      seq: 0,
      session: { ...b.snapshot.session, updatedAt: 0 },
    });
    expect((a.snapshot.messages as { parts: { text: string }[] }[])[0]!.parts[0]!.text).toBe("kept text");
    expect(a.snapshot.session.mode).toBe("plan");
    expect(a.snapshot.chat).toEqual([
      expect.objectContaining({ id: "chat-kept", text: "still here after eviction", partID: "p1" }),
      expect.objectContaining({ id: "chat-gone", text: "", deleted: expect.objectContaining({ by: "driver" }) }),
    ]);
    expect(a.snapshot.session.chatCount).toBe(2);
  });

  it("compaction keeps a bounded tail of the log", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1")]);
    for (let i = 0; i < 6; i++) await batch(agent, Array.from({ length: 100 }, (_, j) => delta("m1", "p1", `${i}.${j} `)));
    await runInDurableObject(ns().getByName(id), (room: SessionRoom) => {
      const count = room.log.count();
      // retain 200 + slack 50 (party/vitest.config.ts)
      expect(count).toBeGreaterThanOrEqual(200);
      expect(count).toBeLessThanOrEqual(250);
      const seq = room.meta.seq();
      expect(room.log.canReplayFrom(seq - 200, seq)).toBe(true);
      expect(room.log.canReplayFrom(10, seq)).toBe(false);
      // The message never completed: its text was only in the log's deltas, folded before the cut.
      const all = Array.from({ length: 6 }, (_, i) => Array.from({ length: 100 }, (_, j) => `${i}.${j} `).join("")).join("");
      expect((room.transcript.readPart("p1", true) as unknown as { text: string }).text).toBe(all);
      expect(room.transcript.pendingDeltaCount("p1")).toBeLessThanOrEqual(250);
    });
  });

  it("a delta is one row in the log, and pending deltas written before migration 5 still read", async () => {
    const { id } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1"), textPart("m1", "p1", "a")]);
    await runInDurableObject(ns().getByName(id), (room: SessionRoom, state) => {
      const sql = state.storage.sql;
      const before = sql.exec(`SELECT 1 FROM events`).toArray().length;
      // As an older build left it: one delta pending in the old table (and in the log).
      sql.exec(`INSERT INTO deltas (part_id, field, delta) VALUES ('p1', 'text', 'b')`);
      sql.exec(`DELETE FROM pending_parts`);
      sql.exec(`UPDATE schema_version SET version = 4`);
      migrate(sql);
      expect(sql.exec(`SELECT after_seq FROM pending_parts WHERE part_id = 'p1'`).toArray()).toHaveLength(1);
      expect(before).toBeGreaterThan(0);
    });
    await evictDurableObject(ns().getByName(id), { webSockets: "close" });
    const agent2 = await connectAgent(id);
    await batch(agent2, [delta("m1", "p1", "c"), delta("m1", "p1", "d")]);
    await runInDurableObject(ns().getByName(id), (room: SessionRoom, state) => {
      const sql = state.storage.sql;
      expect(sql.exec(`SELECT 1 FROM deltas WHERE part_id = 'p1'`).toArray()).toHaveLength(1);
      expect((room.transcript.readPart("p1", false) as unknown as { text: string }).text).toBe("abcd");
      expect(room.transcript.pendingDeltaCount("p1")).toBe(3);
    });
    await batch(agent2, [msg("m1", "assistant", 2)]);
    await runInDurableObject(ns().getByName(id), (room: SessionRoom, state) => {
      const sql = state.storage.sql;
      expect(sql.exec(`SELECT 1 FROM deltas`).toArray()).toHaveLength(0);
      expect(sql.exec(`SELECT 1 FROM pending_parts`).toArray()).toHaveLength(0);
      expect((room.transcript.readPart("p1", false) as unknown as { text: string }).text).toBe("abcd");
    });
  });
});

describe("delete", () => {
  it("purges the room's storage and its index entry", async () => {
    const { id, ownerToken } = await createSession();
    const agent = await connectAgent(id);
    await batch(agent, [msg("m1")]);
    const res = await api(`/api/sessions/${id}`, { method: "DELETE", token: ownerToken });
    expect(res.status).toBe(200);
    await runInDurableObject(ns().getByName(id), (_r: SessionRoom, state) => {
      expect(hasSchema(state.storage.sql)).toBe(false);
    });
    expect((await api(`/api/sessions/${id}`, { token: ownerToken })).status).toBe(404);
    const list = await api(`/api/sessions`, { token: await token("*", "owner") });
    expect(((await list.json()) as { sessions: { id: string }[] }).sessions.map((s) => s.id)).not.toContain(id);
    expect(agent.closed?.code ?? (await agent.waitFor(() => agent.closed !== undefined).catch(() => null), agent.closed?.code)).toBe(4410);
  });
});
