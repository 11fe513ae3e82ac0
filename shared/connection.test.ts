import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Connection, type ConnectionState } from "./connection.ts";
import { FakeWebSocket } from "./fake-socket.ts";

beforeEach(() => FakeWebSocket.reset());
let conn: Connection | undefined;
afterEach(() => conn?.close());

describe("Connection heartbeat: busy is not gone", () => {
  it("an open socket whose ping goes unanswered is 'slow' (still open), then normal again on the next frame", async () => {
    const states: ConnectionState[] = [];
    conn = new Connection(
      {
        host: "127.0.0.1:8787",
        party: "session-room",
        room: "s1",
        token: () => "tok",
        WebSocket: FakeWebSocket,
        probe: false,
        watchNetwork: false,
        heartbeat: { intervalMs: 100, timeoutMs: 1_000 },
      },
      { message: () => {}, open: () => {}, close: () => {}, state: (s) => states.push(s) },
    );
    await vi.waitFor(() => expect(FakeWebSocket.instances).toHaveLength(1));
    const ws = FakeWebSocket.instances[0]!;
    ws.accept();
    await vi.waitFor(() => expect(ws.sent).toContain("ping"), { timeout: 2_000 });
    // Half the timeout without a pong: slow, still open.
    await vi.waitFor(() => expect(conn!.state).toEqual({ status: "open", live: false, slow: true }), { timeout: 2_000 });
    ws.receive("pong");
    expect(conn.state).toEqual({ status: "open", live: false });
    expect(states.some((s) => s.status !== "open" && s.status !== "connecting")).toBe(false);
  });
});
