/** A short name for a part of the transcript, for chat threads ("bash · npm test", "text: Hello…"). */
import type { RoomView } from "./room-view.ts";

export function partLabel(room: Pick<RoomView, "messages" | "order">, partID: string): string {
  for (let i = room.order.length - 1; i >= 0; i--) {
    const m = room.messages[room.order[i]!];
    const p = m?.parts.find((x) => x.id === partID);
    if (!p) continue;
    if (p.type === "tool") {
      const state = (p as { state?: { title?: string; input?: Record<string, unknown> } }).state;
      const detail = state?.title ?? (typeof state?.input?.command === "string" ? state.input.command : undefined);
      const tool = (p as { tool?: string }).tool ?? "tool";
      return detail ? `${tool} · ${clip(detail)}` : tool;
    }
    const text = (p as { text?: unknown }).text;
    return typeof text === "string" && text.trim() ? `${p.type}: ${clip(text)}` : p.type;
  }
  return "a part";
}

const clip = (s: string) => {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > 40 ? one.slice(0, 39) + "…" : one;
};
