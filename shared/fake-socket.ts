/**
 * A stand-in WebSocket for unit tests of the clients' frame handling: no network, the test plays
 * the room. Pass `FakeWebSocket` as the `WebSocket` option; every socket the client creates is
 * recorded in `FakeWebSocket.instances`. (Real sockets against real workerd are exercised by the
 * integration tests under test/.)
 */

export class FakeWebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  static instances: FakeWebSocket[] = [];

  readonly url: string;
  readonly protocols: string[];
  readyState = 0;
  binaryType = "blob";
  protocol = "";
  extensions = "";
  bufferedAmount = 0;
  /** Frames the client sent, in order. */
  readonly sent: string[] = [];

  constructor(url: string, protocols?: string | string[]) {
    super();
    this.url = url;
    this.protocols = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols];
    FakeWebSocket.instances.push(this);
  }

  static reset(): void {
    FakeWebSocket.instances = [];
  }

  static last(): FakeWebSocket {
    const s = FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    if (!s) throw new Error("no socket was created");
    return s;
  }

  /** The query parameters of the URL the client connected to. */
  get query(): URLSearchParams {
    return new URL(this.url).searchParams;
  }

  /** Frames the client sent, parsed (pings excluded). */
  get sentFrames(): ({ type: string } & Record<string, unknown>)[] {
    return this.sent.filter((s) => s !== "ping").map((s) => JSON.parse(s) as { type: string } & Record<string, unknown>);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(data);
  }

  close(code = 1000, reason = ""): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    this.dispatchClose(code, reason);
  }

  // ───────────── the room's side ─────────────

  /** The server accepts the upgrade. */
  accept(): void {
    this.readyState = 1;
    this.protocol = "agentroom";
    this.dispatchEvent(new Event("open"));
  }

  /** The server sends a frame (an object is JSON-encoded). */
  receive(frame: object | string): void {
    const data = typeof frame === "string" ? frame : JSON.stringify(frame);
    this.dispatchEvent(new MessageEvent("message", { data }));
  }

  /** The server (or the network) closes the socket. */
  drop(code = 1006, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.dispatchClose(code, reason);
  }

  /** The upgrade is refused (e.g. HTTP 401): error then close 1006, never open. */
  refuse(): void {
    this.readyState = 3;
    this.dispatchEvent(new Event("error"));
    this.dispatchClose(1006, "");
  }

  private dispatchClose(code: number, reason: string): void {
    const e = new Event("close") as Event & { code: number; reason: string; wasClean: boolean };
    Object.assign(e, { code, reason, wasClean: code === 1000 });
    this.dispatchEvent(e);
  }
}
