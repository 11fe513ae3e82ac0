/** Sending frames: serialized here, and a socket closing under us is not an error. */
import { closingFrame, type ErrorCode, type RoomToAgentFrame, type ServerFrame } from "../../shared/protocol.ts";

function sendJson(ws: WebSocket, frame: unknown): void {
  try {
    ws.send(JSON.stringify(frame));
  } catch {
    // closing; its close handler cleans up
  }
}

export function send(ws: WebSocket, frame: ServerFrame): void {
  sendJson(ws, frame);
}

export function sendAgent(ws: WebSocket, frame: RoomToAgentFrame): void {
  sendJson(ws, frame);
}

export function sendError(ws: WebSocket, code: ErrorCode, message: string, ref?: string): void {
  send(ws, { type: "error", code, message, ...(ref !== undefined ? { ref } : {}) });
}

export function ack(ws: WebSocket, ref: string | undefined, command: string): void {
  send(ws, { type: "ack", ...(ref !== undefined ? { ref } : {}), command });
}

/**
 * Closes a socket for good, announcing it first (shared/protocol.ts `closingFrame`): the client
 * acts on that frame, not on the close, whose report waits on the runtime's TCP teardown.
 */
export function closeFinally(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.send(closingFrame(code, reason));
    ws.close(code, reason);
  } catch {
    // already closing
  }
}
