/**
 * A relay's link to its room: one WebSocket, opened on demand and reopened with backoff when it
 * drops, whose frames are parsed by the protocol's schemas and handed to the relay (party/relay.ts)
 * through callbacks. The relay keeps the state (tail, snapshot, viewers); this keeps the socket.
 *
 * Parsing costs one schema pass per room frame per relay, not per viewer: the raw text the room
 * serialized once is what goes on to the viewers.
 */
import { CLOSE_CODES, ServerFrameSchema, parseClosingFrame, parseFrame, type ServerFrame } from "../../shared/protocol.ts";
import { jitteredDelay } from "../../shared/backoff.ts";
import { RelayRevokeSchema } from "../../shared/relay.ts";
import { trySend } from "../room/fanout.ts";

export type EventsFrame = Extract<ServerFrame, { type: "events" }>;

export interface RoomLinkHandlers {
  /** Sends the upgrade to the room (the relay knows its name and cursor). */
  connect(): Promise<Response>;
  /** The socket is open: the relay reports its viewers. */
  opened(): void;
  events(text: string, frame: EventsFrame): void;
  snapshot(text: string, seq: number): void;
  presence(text: string): void;
  revoke(links: Set<string>): void;
  /** The room closed the link for good (session deleted, archived or unknown). */
  ended(code: number, reason: string): void;
  /** Whether a dropped link is worth reopening (the relay still holds viewers). */
  wanted(): boolean;
}

/** Close codes after which the room will not take the relay back. */
const FINAL_CLOSES: readonly number[] = [CLOSE_CODES.deleted, CLOSE_CODES.relayRetired, CLOSE_CODES.notFound];

export class RoomLink {
  #socket: WebSocket | undefined;
  /** Resolves once the link is caught up; shared by every joiner meanwhile. */
  #ready: Promise<void> | undefined;
  #caughtUp: (() => void) | undefined;
  #failed: ((e: Error) => void) | undefined;
  #attempt = 0;

  readonly #label: () => string;
  readonly #on: RoomLinkHandlers;

  constructor(label: () => string, on: RoomLinkHandlers) {
    this.#label = label;
    this.#on = on;
  }

  /** True while connecting or connected. */
  get linking(): boolean {
    return this.#ready !== undefined;
  }

  /** Connects to the room (once; callers meanwhile wait for the same catch-up). */
  link(): Promise<void> {
    if (this.#ready) return this.#ready;
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#caughtUp = resolve;
      this.#failed = reject;
    });
    // A failure is reported to the joiners waiting on it; nobody else awaits this promise.
    this.#ready.catch(() => {});
    void this.#open();
    return this.#ready;
  }

  send(text: string): void {
    if (this.#socket) trySend(this.#socket, text);
  }

  /** Closes the socket as a drop: the close that follows reopens it with the relay's cursor. */
  drop(reason: string): void {
    this.#socket?.close(1000, reason);
  }

  /** Closes the socket for good; its close event is ignored. */
  close(reason: string): void {
    const ws = this.#socket;
    this.#socket = undefined;
    this.#ready = undefined;
    try {
      ws?.close(1000, reason);
    } catch {
      // closed
    }
  }

  async #open(): Promise<void> {
    try {
      const res = await this.#on.connect();
      const ws = res.webSocket;
      if (res.status !== 101 || !ws) throw new Error(`the room refused the relay: ${res.status}`);
      ws.accept();
      this.#socket = ws;
      ws.addEventListener("message", (e) => this.#frame(typeof e.data === "string" ? e.data : ""));
      ws.addEventListener("close", (e) => this.#closed(ws, e.code, e.reason));
      ws.addEventListener("error", () => this.#closed(ws, 1006, "error"));
      this.#on.opened();
    } catch (e) {
      this.#fail(e instanceof Error ? e : new Error(String(e)));
    }
  }

  #fail(e: Error): void {
    this.#socket = undefined;
    this.#ready = undefined;
    this.#failed?.(e);
    this.#failed = this.#caughtUp = undefined;
  }

  /** A frame that fails its schema is logged and skipped: the link and the viewers carry on. */
  #frame(text: string): void {
    try {
      // The type is read off the text first: `closing` and `relay.revoke` are not client frames.
      const type = /^\{"type":"([a-z.-]+)"/.exec(text)?.[1];
      if (type === "relay.revoke") {
        const r = RelayRevokeSchema.safeParse(JSON.parse(text));
        if (r.success) this.#on.revoke(new Set(r.data.links));
        else console.error(`relay ${this.#label()}: bad relay.revoke from the room`, r.error.issues[0]?.message);
        return;
      }
      if (type === "closing") {
        // The room is closing the link for good (the session deleted): act now, not on the close.
        const f = parseClosingFrame(text);
        if (f && this.#socket) this.#closed(this.#socket, f.code, f.reason);
        return;
      }
      if (type !== "events" && type !== "presence" && type !== "snapshot" && type !== "caught-up" && type !== "error") return;
      const parsed = parseFrame(ServerFrameSchema, text);
      if (!parsed.ok) {
        console.error(`relay ${this.#label()}: bad frame from the room (${parsed.message})`, text.slice(0, 300));
        return;
      }
      const f = parsed.frame;
      switch (f.type) {
        case "events":
          return this.#on.events(text, f);
        case "presence":
          return this.#on.presence(text);
        case "snapshot":
          return this.#on.snapshot(text, f.snapshot.seq);
        case "caught-up": {
          this.#attempt = 0;
          const done = this.#caughtUp;
          this.#caughtUp = this.#failed = undefined;
          done?.();
          return;
        }
        case "error":
          console.warn(`relay ${this.#label()}: the room says`, text.slice(0, 300));
          return;
      }
    } catch (e) {
      console.error(`relay ${this.#label()}: bad frame from the room`, e);
    }
  }

  #closed(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.#socket) return;
    this.#fail(new Error(`the room closed the relay's link: ${code} ${reason}`));
    if (FINAL_CLOSES.includes(code)) return this.#on.ended(code, reason || "closed by the room");
    if (!this.#on.wanted()) return;
    // The room restarted or the link dropped: reconnect with the relay's cursor, viewers stay.
    setTimeout(() => {
      if (!this.#socket && this.#on.wanted()) void this.link().catch(() => {});
    }, jitteredDelay(this.#attempt++));
  }
}
