/**
 * A polite live region for screen readers: announces a new prompt, a finished answer (its first
 * words), a permission request and connection changes — without reading every token or the rows
 * the virtualized list mounts while scrolling.
 */
import { createEffect, createSignal, on, type JSX } from "solid-js";
import type { RoomView } from "../lib/room-view.ts";
import { isHiddenPart } from "../parts/registry.tsx";

function firstWords(text: string, n = 30): string {
  const words = text.replace(/[#*_`>\-]/g, " ").split(/\s+/).filter(Boolean);
  return words.slice(0, n).join(" ") + (words.length > n ? "…" : "");
}

export function Announcer(props: { room: RoomView }): JSX.Element {
  const [message, setMessage] = createSignal("");
  const say = (s: string) => {
    // Clearing first makes a repeated message be read again.
    setMessage("");
    queueMicrotask(() => setMessage(s));
  };
  const last = () => {
    const id = props.room.order[props.room.order.length - 1];
    return id ? props.room.messages[id] : undefined;
  };
  createEffect(
    on(
      () => {
        const m = last();
        return m ? `${m.info.id}:${m.info.time.completed ?? ""}` : "";
      },
      () => {
        const m = last();
        if (!m || !props.room.ready) return;
        const text = m.parts.filter((p) => p.type === "text" && !isHiddenPart(p)).map((p) => (p as { text?: string }).text ?? "").join(" ");
        if (m.info.role === "user") say(`New prompt: ${firstWords(text, 20)}`);
        else if (m.info.time.completed) say(`Agent answered: ${firstWords(text)}`);
      },
      { defer: true },
    ),
  );
  createEffect(
    on(
      () => props.room.permissions.length,
      (n, prev) => {
        if (n > (prev ?? 0)) say("The agent is waiting for permission.");
      },
      { defer: true },
    ),
  );
  return (
    <div class="sr-only" aria-live="polite" aria-atomic="true">
      {message()}
    </div>
  );
}
