/** The room's prompt queue, visible to everyone; drivers may cancel items not yet handed out. */
import { For, Show, type JSX } from "solid-js";
import type { QueueItem } from "../../../shared/protocol.ts";
import type { UnsentPrompt } from "../../../shared/room-client.ts";

/**
 * `unsent`: this browser's prompts the room has not acknowledged yet, shown after the queue until
 * they are in it, so a prompt typed offline never just disappears from the screen.
 */
export function QueueList(props: {
  queue: readonly QueueItem[];
  unsent?: readonly UnsentPrompt[];
  online?: boolean;
  canCancel: boolean;
  onCancel: (id: string) => void;
}): JSX.Element {
  const inQueue = () => new Set(props.queue.map((q) => q.id));
  const unsent = () => (props.unsent ?? []).filter((p) => !inQueue().has(p.id));
  const count = () => props.queue.length + unsent().length;
  return (
    <Show when={count() > 0}>
      <section class="queue" aria-label="Queued prompts">
        <div class="queue-head muted">Queued ({count()})</div>
        <ol class="queue-list">
          <For each={props.queue}>
            {(item) => (
              <li class="queue-item" data-queue-id={item.id}>
                <span class="badge">{item.mode}</span>
                <span class="queue-text" title={item.text}>
                  {item.text}
                </span>
                <span class="muted queue-by">{item.state === "dispatched" ? "starting…" : item.from ? `${item.by}, from ${item.from.author}'s chat message` : item.by}</span>
                <Show when={props.canCancel && item.state === "queued"}>
                  <button type="button" class="icon-button" aria-label={`Cancel queued prompt: ${item.text.slice(0, 60)}`} onClick={() => props.onCancel(item.id)}>
                    ✕
                  </button>
                </Show>
              </li>
            )}
          </For>
          <For each={unsent()}>
            {(p) => (
              <li class="queue-item unsent" data-unsent-id={p.id}>
                <span class="badge">{p.mode ?? "unsent"}</span>
                <span class="queue-text" title={p.text}>
                  {p.text}
                </span>
                <span class="muted queue-by">{props.online === false ? "not sent yet — will send when reconnected" : "sending…"}</span>
              </li>
            )}
          </For>
        </ol>
      </section>
    </Show>
  );
}
