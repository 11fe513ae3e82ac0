/**
 * A viewer link can act through no channel. On real workerd, with a room that has something to
 * act on (a queued prompt, an open permission request, an open question, a streaming agent):
 *
 *  - every command frame a viewer can forge over its socket is refused, and neither the room's
 *    state nor the agent (which must receive no command) notices;
 *  - upgrade tricks do not raise a viewer: role headers, query parameters, a partyserver
 *    connection id (`_pk`) borrowed from the agent or a driver (ids are visible in presence);
 *  - every HTTP route a viewer (or driver) may not use refuses it, and nothing changes;
 *  - tampered, expired and other-session tokens open nothing (WebSocket or HTTP);
 *  - an archived room refuses drivers too;
 *  - no token and no secret appears in the Worker's logs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpErrorSchema, type Snapshot } from "../shared/protocol.ts";
import { normalizeMessages } from "../shared/transcript.ts";
import { startWorker, type WorkerHandle } from "./harness/worker.ts";
import { RawSocket, tryUpgrade, type Frame } from "./harness/raw-socket.ts";
import { SyntheticAgent } from "./harness/synthetic-agent.ts";
import { badTokens } from "./harness/fuzz.ts";
import { recordSummary } from "./harness/faults-summary.ts";
import { setTimeout as sleep } from "node:timers/promises";

let w: WorkerHandle;
let sid: string;
let otherSid: string;
let ownerToken: string;
let viewerToken: string;
let driverToken: string;
let agent: SyntheticAgent;
const QUEUED_ID = "q-queued-1";
const PERMISSION_ID = "per_open_1";
const QUESTION_ID = "que_open_1";
/** Frames the agent must never receive because of a viewer. */
const COMMANDS_TO_AGENT = new Set(["agent.prompt", "agent.stop", "agent.mode", "agent.permission.reply", "agent.question.reply"]);
let attempts = 0;
const restoreStderr = process.stderr.write.bind(process.stderr);

async function snapshotOf(token: string): Promise<Snapshot> {
  const s = await RawSocket.open(w.roomUrl(sid), token);
  const snap = await s.waitFor((f) => f.type === "snapshot", 10_000, 0);
  await s.close();
  return snap.snapshot as Snapshot;
}

/** What a viewer could change: everything but the timestamps the room stamps. */
function observable(s: Snapshot): unknown {
  const { updatedAt: _u, ...session } = s.session;
  void _u;
  return { seq: s.seq, session, messages: normalizeMessages(s.messages), queue: s.queue, permissions: s.permissions, questions: s.questions, todos: s.todos };
}

beforeAll(async () => {
  // Info-level logs, so the token check below sees every request line wrangler prints; kept out
  // of the test output (the harness echoes them when verbose).
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) =>
    String(chunk).includes("[wrangler") ? true : (restoreStderr as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest)) as typeof process.stderr.write;
  w = await startWorker({ verbose: true });
  const created = await w.createSession({ title: "guarded", allowedOrigins: ["https://embed.example"] });
  sid = created.id;
  ownerToken = created.ownerToken;
  otherSid = (await w.createSession({ title: "other" })).id;
  viewerToken = await w.mintToken({ sid, role: "viewer", name: "mallory" });
  driverToken = await w.mintToken({ sid, role: "driver", name: "dora" });

  // Something to act on: the agent is busy (so a prompt stays queued), asks a permission and a question.
  agent = await SyntheticAgent.join(w.roomUrl(sid), await w.agentToken(), "sec");
  await agent.streamMessage(1, { deltas: 10 });
  await agent.send([
    { type: "status", status: "busy" },
    { type: "permission.asked", request: { id: PERMISSION_ID, permission: "bash", patterns: ["rm -rf /"], createdAt: 1 } },
    { type: "question.asked", request: { id: QUESTION_ID, questions: [{ question: "Which?", options: [{ label: "a" }] }], createdAt: 2 } },
  ]);
  const driver = await RawSocket.open(w.roomUrl(sid), driverToken);
  driver.sendJson({ type: "prompt", ref: "p", id: QUEUED_ID, text: "queued while busy" });
  expect((await driver.waitFor((f) => f.ref === "p")).type).toBe("ack");
  await driver.close();
});

afterAll(async () => {
  await agent?.close();
  await w?.stop();
  process.stderr.write = restoreStderr;
});

describe("a viewer over its WebSocket", () => {
  it("is refused every command, changes nothing, and the agent hears nothing", async () => {
    const before = observable(await snapshotOf(viewerToken));
    expect((before as { queue: unknown[] }).queue).toHaveLength(1);
    const agentFrom = agent.sock.frames.length;

    const v = await RawSocket.open(w.roomUrl(sid), viewerToken);
    const welcome = await v.waitFor((f) => f.type === "welcome", 10_000, 0);
    expect((welcome.you as { role: string }).role).toBe("viewer");
    await v.waitFor((f) => f.type === "caught-up", 10_000, 0);

    const forged: [object, string[]][] = [
      [{ type: "prompt", id: "q-viewer", text: "rm -rf /" }, ["forbidden"]],
      [{ type: "prompt", id: QUEUED_ID, text: "replace the queued one" }, ["forbidden"]],
      [{ type: "prompt", id: "q-viewer-plan", text: "x", mode: "plan" }, ["forbidden"]],
      [{ type: "queue.cancel", id: QUEUED_ID }, ["forbidden"]],
      [{ type: "stop" }, ["forbidden"]],
      [{ type: "mode.set", mode: "plan" }, ["forbidden"]],
      [{ type: "permission.reply", requestID: PERMISSION_ID, reply: "always" }, ["forbidden"]],
      [{ type: "permission.reply", requestID: PERMISSION_ID, reply: "once", message: "ok" }, ["forbidden"]],
      [{ type: "question.reply", requestID: QUESTION_ID, answers: [["a"]] }, ["forbidden"]],
      [{ type: "question.reply", requestID: QUESTION_ID, answers: null }, ["forbidden"]],
      // Agent frames from a person's socket: not even parsed as such.
      [{ type: "agent.batch", batchId: "evil", events: [{ body: { type: "session.info", title: "pwned" } }] }, ["bad_frame", "forbidden"]],
      [{ type: "agent.batch", batchId: "evil2", events: [{ body: { type: "part.upsert", part: { id: "p", messageID: "m", type: "text", text: "<script>" } } }] }, ["bad_frame", "forbidden"]],
      [{ type: "agent.prompt.started", queueId: QUEUED_ID }, ["bad_frame", "forbidden"]],
      [{ type: "agent.prompt.failed", queueId: QUEUED_ID, error: "x" }, ["bad_frame", "forbidden"]],
      [{ type: "agent.request.closed", requestID: PERMISSION_ID }, ["bad_frame", "forbidden"]],
      [{ type: "agent.heartbeat", runnerId: "evil" }, ["bad_frame", "forbidden"]],
    ];
    for (const [frame, codes] of forged) {
      const ref = `v${attempts++}`;
      v.sendJson({ ...frame, ref });
      const answer = await v.waitFor((f) => f.type === "error" || f.type === "ack" || f.type === "history", 15_000);
      expect(answer.type, JSON.stringify(frame)).toBe("error");
      expect(codes, JSON.stringify(frame)).toContain(answer.code);
      v.skipAll();
    }
    // Reading stays allowed.
    v.sendJson({ type: "history", ref: "h" });
    expect((await v.waitFor((f) => f.ref === "h")).type).toBe("history");
    await v.close();

    await sleep(200);
    expect(observable(await snapshotOf(viewerToken))).toEqual(before);
    const heard = agent.sock.frames.slice(agentFrom).filter((f) => COMMANDS_TO_AGENT.has(f.type));
    expect(heard).toEqual([]);
  });

  it("cannot raise its role with headers or query parameters", async () => {
    const tricks: { url: string; headers?: Record<string, string>; status: number }[] = [
      { url: w.roomUrl(sid) + "?role=owner", headers: { "x-agentroom-role": "owner", "x-agentroom-name": "root" }, status: 101 },
      // A token in the URL is refused outright (token_in_url), whatever the subprotocol says. (Not
      // a real token: the runtime keeps request URLs, and no token may be at rest after the suite.)
      { url: w.roomUrl(sid) + "?token=eyJzaWQiOiIqIiwicm9sZSI6Im93bmVyIn0.forged", status: 401 },
      { url: w.roomUrl(sid) + "?_role=driver&x-agentroom-role=driver", status: 101 },
      { url: w.roomUrl(sid), headers: { "x-agentroom-ticket": "forged", "x-agentroom-link": "forged" }, status: 101 },
    ];
    for (const t of tricks) {
      attempts++;
      const { status } = await tryUpgrade(t.url, { "Sec-WebSocket-Protocol": `agentroom, t.${viewerToken}`, ...t.headers });
      expect(status, t.url).toBe(t.status);
    }
    // The same tricks through a real socket: the room still sees a viewer.
    const v = await RawSocket.open(w.roomUrl(sid) + "?role=owner&_role=driver", viewerToken);
    const welcome = await v.waitFor((f) => f.type === "welcome", 10_000, 0);
    expect((welcome.you as { role: string }).role).toBe("viewer");
    v.sendJson({ type: "stop", ref: "s" });
    expect((await v.waitFor((f) => f.ref === "s")).code).toBe("forbidden");
    await v.close();
  });

  it("cannot borrow the agent's or a driver's connection id (_pk) to act or to knock the agent out", async () => {
    // Connection ids are public: presence lists everyone's, the agent's included.
    const d = await RawSocket.open(w.roomUrl(sid) + "?_pk=driver-conn-1", driverToken);
    const presence = await d.waitFor((f) => f.type === "presence" && (f.users as { role: string }[]).some((u) => u.role === "agent"), 10_000, 0);
    const agentId = (presence.users as { id: string; role: string }[]).find((u) => u.role === "agent")!.id;
    const agentFrom = agent.sock.frames.length;

    for (const pk of [agentId, "driver-conn-1"]) {
      attempts++;
      const v = await RawSocket.open(`${w.roomUrl(sid)}?_pk=${encodeURIComponent(pk)}`, viewerToken);
      const welcome = await v.waitFor((f) => f.type === "welcome", 10_000, 0);
      expect((welcome.you as { role: string }).role).toBe("viewer");
      // While the impostor is connected, a driver's Stop still reaches the agent.
      d.skipAll();
      const heardFrom = agent.sock.frames.length;
      d.sendJson({ type: "stop", ref: `stop-${pk}` });
      expect((await d.waitFor((f) => f.ref === `stop-${pk}`, 15_000)).type).toBe("ack");
      await agent.sock.waitFor((f) => f.type === "agent.stop", 5_000, heardFrom);
      v.sendJson({ type: "stop", ref: "s" });
      expect((await v.waitFor((f) => f.ref === "s", 15_000)).code).toBe("forbidden");
      // The impostor receives nothing meant for the agent.
      expect(v.frames.filter((f) => f.type.startsWith("agent."))).toEqual([]);
      await v.close();
    }
    await sleep(300);

    // The agent still holds its lease: its batches are applied, a driver's Stop reaches it.
    await agent.send([{ type: "session.info", title: "still mine" }]);
    d.skipAll();
    d.sendJson({ type: "stop", ref: "stop-after" });
    expect((await d.waitFor((f) => f.ref === "stop-after", 15_000)).type).toBe("ack");
    await agent.sock.waitFor((f) => f.type === "agent.stop", 5_000, agentFrom);
    const snap = await snapshotOf(viewerToken);
    expect(snap.session.agentOnline).toBe(true);
    expect(snap.session.title).toBe("still mine");
    await d.close();
  });

  it("is refused the session list socket", async () => {
    for (const token of [viewerToken, driverToken, ownerToken]) {
      attempts++;
      const r = await tryUpgrade(w.lobbyUrl(), { "Sec-WebSocket-Protocol": `agentroom, t.${token}` });
      expect(r.status).toBe(403);
      expect(HttpErrorSchema.safeParse(JSON.parse(r.body)).success).toBe(true);
    }
  });
});

describe("tokens that must open nothing", () => {
  it("tampered, forged, expired and other-session tokens are refused on the socket and over HTTP", async () => {
    const bad = await badTokens({ seed: 99, secret: w.secret, sessionId: sid, otherSessionId: otherSid });
    const refused: Record<string, number> = {};
    for (const t of bad) {
      attempts += 2;
      const up = await tryUpgrade(w.roomUrl(sid), { "Sec-WebSocket-Protocol": `agentroom, t.${t.token}` });
      // An empty token is no token: 401 all the same.
      expect(up.status, t.kind).toBe(401);
      const body = HttpErrorSchema.parse(JSON.parse(up.body));
      refused[body.error.code] = (refused[body.error.code] ?? 0) + 1;
      const res = await fetch(`${w.url}/api/sessions/${sid}`, { headers: { authorization: `Bearer ${t.token}` } });
      expect(res.status, t.kind).toBe(401);
      expect(HttpErrorSchema.safeParse(await res.json()).success).toBe(true);
    }
    expect(Object.keys(refused).sort()).toEqual(expect.arrayContaining(["bad_signature", "expired", "wrong_session"]));
    // No token at all.
    expect((await tryUpgrade(w.roomUrl(sid), {})).status).toBe(401);
  });
});

describe("a viewer (and a driver) over HTTP", () => {
  it("may read but not create, list, archive, delete or share, and nothing changes", async () => {
    const before = observable(await snapshotOf(viewerToken));
    const operator = await w.operatorToken();
    const listBefore = await (await fetch(`${w.url}/api/sessions`, { headers: { authorization: `Bearer ${operator}` } })).json();
    const calls: { method: string; path: string; body?: unknown; reader: boolean }[] = [
      { method: "POST", path: "/api/sessions", body: { title: "mine now" }, reader: false },
      { method: "GET", path: "/api/sessions", reader: false },
      { method: "POST", path: `/api/sessions/${sid}/archive`, body: { archived: true }, reader: false },
      { method: "POST", path: `/api/sessions/${sid}/share`, body: { role: "driver" }, reader: false },
      { method: "POST", path: `/api/sessions/${sid}/share`, body: { role: "viewer", ttlSeconds: 31536000 }, reader: false },
      { method: "DELETE", path: `/api/sessions/${sid}`, reader: false },
      { method: "GET", path: `/api/sessions/${sid}`, reader: true },
      { method: "GET", path: `/api/sessions/${sid}/history`, reader: true },
      { method: "GET", path: `/api/sessions/${sid}/parts/sec_msg_0001_p1`, reader: true },
    ];
    for (const token of [viewerToken, driverToken]) {
      for (const c of calls) {
        attempts++;
        const res = await fetch(w.url + c.path, {
          method: c.method,
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: c.body === undefined ? undefined : JSON.stringify(c.body),
        });
        const text = await res.text();
        if (c.reader) {
          expect(res.status, `${c.method} ${c.path}`).toBe(200);
        } else {
          expect(res.status, `${c.method} ${c.path}: ${text}`).toBe(403);
          expect(HttpErrorSchema.safeParse(JSON.parse(text)).success).toBe(true);
        }
      }
    }
    expect(observable(await snapshotOf(viewerToken))).toEqual(before);
    expect(await (await fetch(`${w.url}/api/sessions`, { headers: { authorization: `Bearer ${operator}` } })).json()).toEqual(listBefore);
  });
});

describe("an archived room", () => {
  it("refuses drivers' commands and a new agent, and still lets people read", async () => {
    const sid2 = (await w.createSession({ title: "to archive" })).id;
    const owner2 = await w.mintToken({ sid: sid2, role: "owner" });
    const res = await fetch(`${w.url}/api/sessions/${sid2}/archive`, {
      method: "POST",
      headers: { authorization: `Bearer ${owner2}`, "content-type": "application/json" },
      body: JSON.stringify({ archived: true }),
    });
    expect(res.status).toBe(200);
    const d = await RawSocket.open(w.roomUrl(sid2), await w.mintToken({ sid: sid2, role: "driver" }));
    await d.waitFor((f) => f.type === "caught-up", 10_000, 0);
    for (const frame of [{ type: "prompt", id: "late", text: "x" }, { type: "mode.set", mode: "plan" }, { type: "stop" }]) {
      attempts++;
      d.sendJson({ ...frame, ref: "a" });
      const a: Frame = await d.waitFor((f) => f.ref === "a", 15_000);
      expect(a.type).toBe("error");
      expect(["archived", "agent_offline"]).toContain(a.code);
      d.skipAll();
    }
    d.sendJson({ type: "history", ref: "h" });
    expect((await d.waitFor((f) => f.ref === "h")).type).toBe("history");
    await d.close();
    await expect(SyntheticAgent.join(w.roomUrl(sid2), await w.agentToken(), "late")).rejects.toThrow();
  });
});

describe("logs", () => {
  it("carry no token and no secret", async () => {
    const logs = w.logs();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).toMatch(/GET|POST/); // the request lines are there to be checked
    const tokens = [ownerToken, viewerToken, driverToken, await w.operatorToken(), await w.agentToken()];
    for (const t of tokens) {
      expect(logs.includes(t)).toBe(false);
      expect(logs.includes(t.split(".")[1]!)).toBe(false); // not even the signature
    }
    expect(logs.includes(w.secret)).toBe(false);
    recordSummary({
      id: "security-viewer",
      scenario: "Viewer link: WS frames, upgrade tricks, _pk borrowing, HTTP routes, bad tokens, archived room",
      faults: 0,
      badInputs: attempts,
      load: "1 agent, queue + open permission + question to act on",
      eventsLost: 0,
      crashes: 0,
      notes: "every attempt refused; state and agent unchanged; no token or secret in workerd logs",
    });
  });
});
