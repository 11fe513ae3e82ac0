/**
 * The replay's timeline: a track over the run's compressed clock with marks for prompts, tool
 * calls, permission waits, errors and chat, the idle gaps that play shortened, and a range input
 * over it (keyboard and screen readers move it; its value text says which event is shown). Marks
 * are reached by the bar's previous/next mark buttons.
 */
import { For, type JSX } from "solid-js";
import type { ReplayView } from "../lib/replay-store.ts";
import { idleLabel } from "../lib/replay-store.ts";
import type { MarkKind } from "../../../shared/replay.ts";

const KIND_LABEL: Record<MarkKind, string> = { prompt: "Prompt", tool: "Tool call", permission: "Waiting for approval", error: "Error", chat: "Chat" };

export function Scrubber(props: { replay: ReplayView; timeOf: (seq: number) => number; onSeekTime: (t: number) => void }): JSX.Element {
  const pct = (t: number) => `${props.replay.duration > 0 ? Math.min(100, (t / props.replay.duration) * 100) : 0}%`;
  return (
    <div class="scrubber" data-scrubber>
      <div class="scrub-track" aria-hidden="true">
        <div class="scrub-progress" style={{ width: pct(props.replay.pos) }} />
        <For each={props.replay.gaps}>
          {(g) => <span class="scrub-gap" style={{ left: pct(g.at) }} title={`${idleLabel(g.ms)} idle, played as 1 s`} />}
        </For>
        <For each={props.replay.marks}>
          {(m) => (
            <span
              class={`scrub-mark mark-${m.kind}`}
              data-mark={m.kind}
              data-seq={m.seq}
              style={{ left: pct(props.timeOf(m.seq)) }}
              title={`${KIND_LABEL[m.kind]} — ${m.label}`}
            />
          )}
        </For>
      </div>
      <input
        class="scrub-input"
        type="range"
        min="0"
        max={props.replay.duration}
        step="any"
        value={props.replay.pos}
        aria-label="Position in the run"
        aria-valuetext={`event ${props.replay.position} of ${props.replay.end}`}
        onInput={(e) => props.onSeekTime(Number(e.currentTarget.value))}
      />
      <div class="scrub-legend muted" aria-hidden="true">
        <For each={Object.entries(KIND_LABEL) as [MarkKind, string][]}>
          {([kind, label]) => (
            <span class="legend-item">
              <span class={`scrub-mark-inline mark-${kind}`} />
              {label}
            </span>
          )}
        </For>
        <span class="legend-item">
          <span class="scrub-gap-inline" />
          idle (compressed)
        </span>
      </div>
    </div>
  );
}
