import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mayOpenLobby, type LobbyChange } from "./lobby-client.ts";
import { signToken } from "./token.ts";
import { FakeWebSocket } from "./fake-socket.ts";
import type { SessionSummary } from "./protocol.ts";
import { TestLobbyClient } from "../test/harness/clients.ts";

const row = (id: string, updatedAt: number, over: Partial<SessionSummary> = {}): SessionSummary => ({
  id,
  title: id,
  status: "idle",
  createdAt: 1,
  updatedAt,
  archived: false,
  ...over,
});

const lobbies: TestLobbyClient[] = [];
function lobby(over: Partial<ConstructorParameters<typeof TestLobbyClient>[0]> = {}): TestLobbyClient {
  const l = new TestLobbyClient({
    host: "127.0.0.1:8787",
    token: "op",
    WebSocket: FakeWebSocket,
    probe: false,
    heartbeat: false,
    backoff: { baseMs: 5, random: () => 1 },
    ...over,
  });
  lobbies.push(l);
  return l;
}

async function socket(n: number): Promise<FakeWebSocket> {
  await vi.waitFor(() => {
    if (FakeWebSocket.instances.length < n) throw new Error("waiting");
  }, { timeout: 2_000, interval: 2 });
  return FakeWebSocket.instances[n - 1]!;
}

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  for (const l of lobbies.splice(0)) l.close();
});

describe("LobbyClient", () => {
  it("connects to the lobby with the token as a subprotocol", async () => {
    lobby({ token: "operator.tok" });
    const ws = await socket(1);
    expect(new URL(ws.url).pathname).toBe("/parties/lobby/main");
    expect(ws.protocols).toEqual(["agentroom", "t.operator.tok"]);
  });

  it("takes the full list, then changes and deletions, newest activity first", async () => {
    const l = lobby();
    const changes: LobbyChange["kind"][] = [];
    l.onChange((c) => changes.push(c.kind));
    const ws = await socket(1);
    ws.accept();
    ws.receive({ type: "sessions", sessions: [row("a", 10), row("b", 20)] });
    expect(l.loaded).toBe(true);
    expect(l.state).toEqual({ status: "open", live: true });
    expect(l.list().map((s) => s.id)).toEqual(["b", "a"]);
    ws.receive({ type: "session.changed", session: row("a", 30, { status: "busy", title: "renamed" }) });
    ws.receive({ type: "session.changed", session: row("c", 5) });
    expect(l.list().map((s) => [s.id, s.status])).toEqual([
      ["a", "busy"],
      ["b", "idle"],
      ["c", "idle"],
    ]);
    ws.receive({ type: "session.deleted", id: "b" });
    ws.receive({ type: "session.deleted", id: "never-existed" });
    expect(l.list().map((s) => s.id)).toEqual(["a", "c"]);
    expect(changes).toEqual(["reset", "changed", "changed", "deleted"]);
  });

  it("after a reconnect the new full list replaces the old one", async () => {
    const l = lobby();
    const ws1 = await socket(1);
    ws1.accept();
    ws1.receive({ type: "sessions", sessions: [row("a", 1), row("gone", 2)] });
    ws1.drop();
    const ws2 = await socket(2);
    ws2.accept();
    ws2.receive({ type: "sessions", sessions: [row("a", 3)] });
    expect(l.list().map((s) => s.id)).toEqual(["a"]);
  });

  it("stops on a refused token", async () => {
    const fakeFetch = (async () => new Response("", { status: 401 })) as unknown as typeof fetch;
    const l = lobby({ probe: true, fetch: fakeFetch });
    (await socket(1)).refuse();
    await vi.waitFor(() => expect(l.state.status).toBe("closed"), { timeout: 2_000, interval: 5 });
    expect(l.state).toMatchObject({ reason: "unauthorized" });
  });

  it("a 403 is final only for a token that could never open the list", async () => {
    const viewerToken = await signToken("k", { sid: "s1", role: "viewer", name: "v", ttlSeconds: 60 });
    const runnerToken = await signToken("k", { sid: "*", role: "agent", name: "r", ttlSeconds: 60 });
    expect(mayOpenLobby(viewerToken)).toBe(false);
    expect(mayOpenLobby(runnerToken)).toBe(true);
    expect(mayOpenLobby("garbage")).toBe(false);
    const fakeFetch = (async () => new Response("", { status: 403 })) as unknown as typeof fetch;
    const l = lobby({ probe: true, fetch: fakeFetch, token: viewerToken });
    (await socket(1)).refuse();
    await vi.waitFor(() => expect(l.state.status).toBe("closed"), { timeout: 2_000, interval: 5 });
    expect(l.state).toMatchObject({ reason: "forbidden", code: 403 });
    const r = lobby({ probe: true, fetch: fakeFetch, token: runnerToken });
    (await socket(2)).refuse();
    await socket(3); // a runner keeps trying
    expect(r.state.status).not.toBe("closed");
  });

  it("waitFor resolves once the predicate holds", async () => {
    const l = lobby();
    const ws = await socket(1);
    ws.accept();
    const waiting = l.waitFor((x) => x.sessions.has("z"), 1_000);
    ws.receive({ type: "sessions", sessions: [] });
    ws.receive({ type: "session.changed", session: row("z", 1) });
    await expect(waiting).resolves.toBeUndefined();
  });
});
