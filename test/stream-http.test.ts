/**
 * A session read over plain HTTP with the Durable Streams protocol's own client
 * (`@durable-streams/client`), against the real stack (workerd through wrangler dev, the real
 * runner and opencode, the scripted model): catch-up from -1 and from an offset, live long-poll and
 * SSE to the end of a turn, resumption after workerd is killed, ETag / 304, the edge cache,
 * revocation, Stream-Closed after archive, and bad requests. The text the client assembles is
 * folded with the app's own reducer and must equal what the room's WebSocket viewers hold.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stream, type StreamResponse } from "@durable-streams/client";
import { startStack, joinRoom, until, type Stack } from "./harness/stack.ts";
import { Transcript } from "../shared/transcript.ts";
import { applyStreamItem, seqOf, StreamItemSchema, type StreamItem } from "../shared/http-stream.ts";
import type { TestRoomClient } from "./harness/clients.ts";
import { setTimeout as sleep } from "node:timers/promises";

let stack: Stack;

beforeAll(async () => {
  // Reads cut at ~4 KB: a turn spans many ranges, so catch-up pages and ranges below the head exist.
  stack = await startStack({ worker: { env: { LIMIT_STREAM_READ_BYTES: "4096" } } });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const streamUrl = (id: string) => `${stack.worker.url}/api/sessions/${id}/stream`;

/** A reader with the protocol's client, folding every item into a transcript as it comes. */
interface Reader {
  res: StreamResponse<StreamItem>;
  t: Transcript;
  items: StreamItem[];
  offset: () => string;
  gaps: number;
}

async function read(id: string, token: string, offset: string, live: "sse" | "long-poll"): Promise<Reader> {
  const res = await stream<StreamItem>({
    url: streamUrl(id),
    offset,
    live,
    json: true,
    headers: { Authorization: () => `Bearer ${token}` },
    backoffOptions: { initialDelay: 100, maxDelay: 1_000, multiplier: 1.3, maxRetries: Infinity },
  });
  const reader: Reader = { res, t: new Transcript(), items: [], offset: () => last, gaps: 0 };
  let last = offset;
  res.subscribeJson(async (batch) => {
    for (const raw of batch.items) {
      const item = StreamItemSchema.parse(raw) as StreamItem;
      reader.items.push(item);
      if (applyStreamItem(reader.t, item) === "gap") reader.gaps++;
    }
    last = batch.offset;
  });
  return reader;
}

/**
 * A catch-up read with the protocol's client: every item up to the head, page after page. (With
 * `live: false` client 0.2.6 reads one response only; `json()` on a live read stops at the head.)
 */
async function catchUp(id: string, token: string, offset: string): Promise<StreamItem[]> {
  const res = await stream<StreamItem>({ url: streamUrl(id), offset, live: "long-poll", json: true, headers: { Authorization: () => `Bearer ${token}` } });
  return (await res.json()).map((i) => StreamItemSchema.parse(i) as StreamItem);
}

/** The turn is over in this transcript: the agent idle after an answer. */
const turnOver = (t: Transcript, minMessages: number) =>
  t.session?.agentStatus === "idle" && t.messages.length >= minMessages && t.messages.at(-1)?.info.role === "assistant" && t.messages.at(-1)?.info.time?.completed !== undefined;

const seqs = (items: StreamItem[]) => items.map((i) => ("seq" in i ? i.seq : i.snapshot.seq));

async function session(title: string): Promise<{ id: string; owner: string; driver: TestRoomClient; viewer: string }> {
  const s = await stack.worker.createSession({ title });
  await stack.runner.waitHolding(s.id);
  const driver = await joinRoom(stack, s.id, "driver", "dana");
  return { id: s.id, owner: s.ownerToken, driver, viewer: await stack.worker.mintToken({ sid: s.id, role: "viewer", name: "bot" }) };
}

describe("HTTP stream (Durable Streams read side)", () => {
  it("SSE and long-poll follow a live turn to its end; catch-up from -1 and from an offset; the text equals the room's", async () => {
    const { id, driver, viewer } = await session("http-live");
    const sse = await read(id, viewer, "-1", "sse");
    const poll = await read(id, viewer, "-1", "long-poll");
    await driver.prompt("please write notes.md and think about it");
    for (const r of [sse, poll]) await until(() => turnOver(r.t, 2), 120_000, "the turn's end over HTTP");
    await driver.waitFor((x) => turnOver(x.transcript, 2), 30_000);
    // The room may still add an event after the turn (a late status or info): the head is wherever
    // the driver is when a reader meets it.
    for (const r of [sse, poll]) {
      const same = () => JSON.stringify(r.t.messages) === JSON.stringify(driver.transcript.messages);
      await until(() => seqOf(r.offset()) === driver.transcript.lastSeq && same(), 10_000, "the reader at the head");
      expect(r.gaps).toBe(0);
      // The same transcript as the room's WebSocket viewers, from the same events and seqs.
      expect(JSON.stringify(r.t.messages)).toBe(JSON.stringify(driver.transcript.messages));
      const s = seqs(r.items);
      expect(s).toEqual([...s].sort((a, b) => a - b));
      r.res.cancel();
    }
    const text = sse.t.messages.flatMap((m) => m.parts).filter((p) => p.type === "text").map((p) => p.text).join("");
    expect(text).toContain("I'll create `notes.md`.");

    // From -1 a reader starts like a WebSocket joiner: the snapshot (the session at the head).
    expect(sse.items[0]!.type).toBe("snapshot");
    const fromStart = await catchUp(id, viewer, "-1");
    expect(fromStart).toHaveLength(1);
    expect(fromStart[0]!.type).toBe("snapshot");
    const head = fromStart[0]!.type === "snapshot" ? fromStart[0]!.snapshot.seq : -1;
    expect(head).toBeGreaterThanOrEqual(seqOf(sse.offset()) ?? 0);
    // Catch-up (no live) from offset 0: every event from seq 1, in pages; from an offset it was given, the rest.
    const all = await catchUp(id, viewer, "0000000000000000");
    expect(seqs(all)[0]).toBe(1);
    expect(seqs(all).at(-1)).toBeGreaterThanOrEqual(head);
    const mid = sse.items[Math.floor(sse.items.length / 2)]!;
    const midSeq = "seq" in mid ? mid.seq : 0;
    const rest = await catchUp(id, viewer, String(midSeq).padStart(16, "0"));
    // Exactly the events after it: contiguous seqs from midSeq + 1 to the head (merged deltas cover fromSeq..seq).
    let at = midSeq;
    for (const i of rest) {
      if (!("seq" in i)) throw new Error("a snapshot in a read from an offset");
      expect(i.fromSeq ?? i.seq).toBe(at + 1);
      at = i.seq;
    }
    expect(at).toBeGreaterThanOrEqual(head);
    driver.close();
  }, 240_000);

  it("ETag / 304, and a closed range served from the edge cache without reaching the room", async () => {
    const { id, driver, viewer } = await session("http-cache");
    await driver.prompt("please write cache.md");
    await driver.waitFor((x) => turnOver(x.transcript, 2), 120_000);
    const h = { Authorization: `Bearer ${viewer}` };
    // A range below the head: the first page from offset 0.
    const first = await fetch(`${streamUrl(id)}?offset=0000000000000000`, { headers: h });
    expect(first.status).toBe(200);
    expect(first.headers.get("stream-up-to-date")).toBeNull();
    expect(first.headers.get("x-agentroom-cache")).toBe("miss");
    const etag = first.headers.get("etag")!;
    const body = await first.text();
    await until(async () => (await fetch(`${streamUrl(id)}?offset=0000000000000000`, { headers: h })).headers.get("x-agentroom-cache") === "hit", 10_000, "the range in the cache");
    const again = await fetch(`${streamUrl(id)}?offset=0000000000000000`, { headers: h });
    expect(again.headers.get("x-agentroom-cache")).toBe("hit");
    expect(await again.text()).toBe(body);
    const notModified = await fetch(`${streamUrl(id)}?offset=0000000000000000`, { headers: { ...h, "If-None-Match": etag } });
    expect(notModified.status).toBe(304);
    expect(await notModified.text()).toBe("");
    // 100 readers of one range below the head, all at once: the room answers it once.
    const second = first.headers.get("stream-next-offset")!;
    const many = await Promise.all(Array.from({ length: 100 }, () => fetch(`${streamUrl(id)}?offset=${second}`, { headers: h }).then(async (r) => ({ cache: r.headers.get("x-agentroom-cache"), body: await r.text() }))));
    const roomReads = many.filter((r) => r.cache === "miss").length;
    console.log(`[edge-cache] 100 readers of one range: ${roomReads} room read(s), ${many.filter((r) => r.cache === "joined").length} joined it, ${many.filter((r) => r.cache === "hit").length} from the cache`);
    expect(roomReads).toBe(1);
    expect(new Set(many.map((r) => r.body)).size).toBe(1);
    // The head is never cached; its ETag changes with the next event.
    const tail = await fetch(`${streamUrl(id)}?offset=-1`, { headers: h });
    expect(tail.headers.get("x-agentroom-cache")).toBeNull();
    // Still the token's check first: no token, no cached range.
    expect((await fetch(`${streamUrl(id)}?offset=0000000000000000`)).status).toBe(401);
    driver.close();
  }, 240_000);

  it("a revoked link ends its open SSE and long-poll reads at once; archiving closes the stream", async () => {
    const { id, owner, driver } = await session("http-revoke");
    const share = (await (await fetch(`${stack.worker.url}/api/sessions/${id}/share`, { method: "POST", headers: { Authorization: `Bearer ${owner}` }, body: JSON.stringify({ role: "viewer", name: "bot" }) })).json()) as { token: string; linkId: string };
    const h = { Authorization: `Bearer ${share.token}` };
    const head = (await fetch(`${streamUrl(id)}?offset=now`, { headers: h })).headers.get("stream-next-offset")!;
    const sse = await fetch(`${streamUrl(id)}?offset=${head}&live=sse`, { headers: h });
    expect(sse.status).toBe(200);
    const sseEnded = (async () => {
      const r = sse.body!.getReader();
      while (!(await r.read()).done);
      return Date.now();
    })();
    const poll = fetch(`${streamUrl(id)}?offset=${head}&live=long-poll`, { headers: h }).then(async (r) => ({ at: Date.now(), status: r.status, body: await r.text() }));
    await sleep(500);
    const revoke = await fetch(`${stack.worker.url}/api/sessions/${id}/links/${share.linkId}`, { method: "DELETE", headers: { Authorization: `Bearer ${owner}` } });
    expect(revoke.status).toBe(200);
    const revokedAt = Date.now();
    const [sseAt, polled] = await Promise.all([sseEnded, poll]);
    console.log(`[revoke] SSE ended ${sseAt - revokedAt} ms, long-poll answered ${polled.at - revokedAt} ms after the revoke's answer`);
    expect(polled.status).toBe(401);
    expect(polled.body).toContain("revoked");
    // The promise is one second (both end while the revoke is answered; measured ~0 ms after it).
    expect(sseAt - revokedAt).toBeLessThan(1_000);
    expect(polled.at - revokedAt).toBeLessThan(1_000);
    expect((await fetch(`${streamUrl(id)}?offset=-1`, { headers: h })).status).toBe(401);

    // Archive: a live SSE reader gets the archive event and a final control event with streamClosed.
    const viewer = await stack.worker.mintToken({ sid: id, role: "viewer" });
    const reader = await read(id, viewer, "-1", "sse");
    await until(() => reader.items.length > 0, 10_000, "the reader caught up");
    await fetch(`${stack.worker.url}/api/sessions/${id}/archive`, { method: "POST", headers: { Authorization: `Bearer ${owner}` }, body: JSON.stringify({ archived: true }) });
    await until(() => reader.res.streamClosed, 10_000, "Stream-Closed over SSE");
    expect(reader.items.some((i) => i.type === "session.archived" && i.archived)).toBe(true);
    const closed = await fetch(`${streamUrl(id)}?offset=${reader.offset()}`, { headers: { Authorization: `Bearer ${viewer}` } });
    expect(closed.headers.get("stream-closed")).toBe("true");
    const lp = await fetch(`${streamUrl(id)}?offset=${reader.offset()}&live=long-poll`, { headers: { Authorization: `Bearer ${viewer}` } });
    expect(lp.status).toBe(204);
    expect(lp.headers.get("stream-closed")).toBe("true");
    driver.close();
  }, 240_000);

  it("bad offsets, modes, sessions and tokens get a 4xx with a code", async () => {
    const { id, driver, viewer } = await session("http-bad");
    const h = { Authorization: `Bearer ${viewer}` };
    const code = async (q: string, headers: Record<string, string> = h, sid = id) => {
      const r = await fetch(`${stack.worker.url}/api/sessions/${sid}/stream?${q}`, { headers });
      return `${r.status} ${((await r.json()) as { error: { code: string } }).error.code}`;
    };
    expect(await code("offset=abc")).toBe("400 bad_offset");
    expect(await code("offset=1")).toBe("400 bad_offset");
    expect(await code("offset=-1&offset=-1")).toBe("400 bad_offset");
    expect(await code("offset=0000000000999999")).toBe("400 bad_offset");
    expect(await code("offset=-1&live=ws")).toBe("400 bad_live");
    expect(await code("live=sse")).toBe("400 offset_required");
    expect(await code("offset=-1", { Authorization: `Bearer ${await stack.worker.operatorToken()}` }, "nosuchsession")).toBe("404 not_found");
    expect(await code("offset=-1", h, "nosuchsession")).toBe("401 wrong_session");
    expect(await code("offset=-1", {})).toBe("401 unauthorized");
    expect(await code(`offset=-1&token=${viewer}`, {})).toMatch(/^401 token_in_url/);
    const post = await fetch(`${streamUrl(id)}?offset=-1`, { method: "POST", headers: h, body: "[]" });
    expect(post.status).toBe(405);
    driver.close();
  }, 120_000);

  it("resumes from its last offset after workerd is killed and restarted", async () => {
    const { id, driver, viewer } = await session("http-kill");
    const reader = await read(id, viewer, "-1", "long-poll");
    await driver.prompt("please write before.md");
    await until(() => turnOver(reader.t, 2), 120_000, "the first turn over HTTP");
    driver.close();
    await stack.worker.kill("SIGKILL");
    await stack.worker.restart();
    await stack.runner.waitHolding(id, 90_000);
    const again = await joinRoom(stack, id, "driver", "dana");
    await again.prompt("please write after.md");
    await again.waitFor((x) => turnOver(x.transcript, 4), 120_000);
    await until(() => seqOf(reader.offset()) === again.transcript.lastSeq, 60_000, "the reader resumed to the head");
    expect(reader.gaps).toBe(0);
    const s = seqs(reader.items);
    expect(new Set(s).size).toBe(s.length);
    expect(JSON.stringify(reader.t.messages)).toBe(JSON.stringify(again.transcript.messages));
    reader.res.cancel();
    again.close();
  }, 300_000);
});
