/** The room's prompt queue, visible to everyone; drivers may cancel items not yet handed out. */
import { For, Show, type JSX } from "solid-js";
import type { QueueItem } from "../../../shared/protocol.ts";

export function QueueList(props: { queue: readonly QueueItem[]; canCancel: boolean; onCancel: (id: string) => void }): JSX.Element {
  return (
    <Show when={props.queue.length > 0}>
      <section class="queue" aria-label="Queued prompts">
        <div class="queue-head muted">Queued ({props.queue.length})</div>
        <ol class="queue-list">
          <For each={props.queue}>
            {(item) => (
              <li class="queue-item" data-queue-id={item.id}>
                <span class="badge">{item.mode}</span>
                <span class="queue-text" title={item.text}>
                  {item.text}
                </span>
                <span class="muted queue-by">{item.state === "dispatched" ? "starting…" : item.by}</span>
                <Show when={props.canCancel && item.state === "queued"}>
                  <button type="button" class="icon-button" aria-label={`Cancel queued prompt: ${item.text.slice(0, 60)}`} onClick={() => props.onCancel(item.id)}>
                    ✕
                  </button>
                </Show>
              </li>
            )}
          </For>
        </ol>
      </section>
    </Show>
  );
}
