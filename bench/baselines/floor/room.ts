/**
 * The floor: the least work a Durable Object can do to fan one agent frame out to every viewer.
 * It receives the agent's frame and `send`s the same bytes to every other socket, through the
 * hibernation API, with no storage, no parsing and no per-viewer state. Every other system's CPU
 * per delivered frame is reported as a ratio to this one, measured in the same run on the same
 * workerd, so the ratio travels across machines where milliseconds do not.
 *
 * Plain `DurableObject` rather than partyserver: partyserver's per-message bookkeeping is part of
 * what is being measured above the floor.
 */
import { DurableObject } from "cloudflare:workers";

export class FloorRoom extends DurableObject {
  override async fetch(request: Request): Promise<Response> {
    const pair = new WebSocketPair();
    // The tag is the only routing: an agent's frames go to everyone else.
    const role = new URL(request.url).searchParams.get("role") === "agent" ? "agent" : "viewer";
    this.ctx.acceptWebSocket(pair[1], [role]);
    // A viewer is live as soon as it is accepted; the load generator waits for this frame.
    if (role === "viewer") pair[1].send("ready");
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  override webSocketMessage(from: WebSocket, message: string | ArrayBuffer): void {
    for (const ws of this.ctx.getWebSockets("viewer")) if (ws !== from) ws.send(message);
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    try {
      ws.close(code === 1005 ? 1000 : code);
    } catch {
      // already closed
    }
  }
}
