/**
 * Baseline 1: the first design anyone writes for "stream an agent to many viewers" on partyserver.
 *  - every agent event is broadcast at once as its own frame (no batching, no merging);
 *  - every text delta re-serialises the whole message and writes it to SQLite (O(message) per token);
 *  - a newcomer gets the whole transcript in one frame.
 * The agent connects with `?role=agent` and sends `{type:"delta", messageID, partID, delta}` or
 * `{type:"message", message}`; everything else is ignored.
 */
import { Server, type Connection, type WSMessage } from "partyserver";

type NaivePart = { id: string; type: "text"; text: string };
type NaiveMessage = { id: string; role: "assistant"; parts: NaivePart[] };
type AgentEvent =
  | { type: "message"; message: NaiveMessage }
  | { type: "delta"; messageID: string; partID: string; delta: string };

export class NaiveRoom extends Server {
  static override options = { hibernate: true };
  /** Write-through cache; a woken object reloads a message from SQLite on first use. */
  private messages = new Map<string, NaiveMessage>();

  override onStart(): void {
    this.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, json TEXT NOT NULL)");
  }

  override onConnect(connection: Connection, ctx: { request: Request }): void {
    const role = new URL(ctx.request.url).searchParams.get("role") === "agent" ? "agent" : "viewer";
    connection.setState({ role });
    if (role === "viewer") {
      const rows = this.ctx.storage.sql.exec<{ json: string }>("SELECT json FROM messages").toArray();
      connection.send(JSON.stringify({ type: "snapshot", messages: rows.map((r) => JSON.parse(r.json)) }));
    }
  }

  override onMessage(connection: Connection<{ role: string }>, raw: WSMessage): void {
    if (connection.state?.role !== "agent" || typeof raw !== "string") return;
    const event = JSON.parse(raw) as AgentEvent;
    if (event.type === "message") {
      this.save(event.message);
    } else if (event.type === "delta") {
      const message = this.load(event.messageID);
      const part = message?.parts.find((p) => p.id === event.partID);
      if (!message || !part) return;
      part.text += event.delta;
      this.save(message);
    } else {
      return;
    }
    this.broadcast(raw, [connection.id]);
  }

  private load(id: string): NaiveMessage | undefined {
    let m = this.messages.get(id);
    if (!m) {
      const row = this.ctx.storage.sql.exec<{ json: string }>("SELECT json FROM messages WHERE id = ?", id).toArray()[0];
      if (row) this.messages.set(id, (m = JSON.parse(row.json) as NaiveMessage));
    }
    return m;
  }

  private save(message: NaiveMessage): void {
    this.messages.set(message.id, message);
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO messages (id, json) VALUES (?, ?)", message.id, JSON.stringify(message));
  }
}
