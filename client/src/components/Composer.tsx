/**
 * The driver's composer: Enter sends, Shift+Enter adds a line, Esc stops the agent. Sending never
 * waits for the agent: prompts typed while it works join the room's queue. Typing state is sent
 * (debounced) so others see who is writing.
 */
import { Show, createSignal, onCleanup, type JSX } from "solid-js";
import type { Mode } from "../../../shared/protocol.ts";
import { DEFAULT_LIMITS } from "../../../shared/limits.ts";

export function Composer(props: {
  mode: Mode;
  busy: boolean;
  stopping: boolean;
  disabled?: string;
  onSend: (text: string) => void;
  onStop: () => void;
  onMode: (mode: Mode) => void;
  onTyping: (typing: boolean) => void;
}): JSX.Element {
  const [text, setText] = createSignal("");
  let typingTimer: ReturnType<typeof setTimeout> | undefined;
  let typing = false;
  const stopTyping = () => {
    if (typingTimer) clearTimeout(typingTimer);
    typingTimer = undefined;
    if (typing) {
      typing = false;
      props.onTyping(false);
    }
  };
  onCleanup(stopTyping);
  const noteTyping = () => {
    if (!typing) {
      typing = true;
      props.onTyping(true);
    }
    if (typingTimer) clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 3000);
  };
  const tooLong = () => text().length > DEFAULT_LIMITS.maxPromptChars;
  const send = () => {
    const t = text().trim();
    if (!t || tooLong() || props.disabled) return;
    props.onSend(t);
    setText("");
    stopTyping();
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === "Escape" && props.busy) {
      e.preventDefault();
      props.onStop();
    }
  };
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <label class="sr-only" for="composer-input">
        Prompt
      </label>
      <textarea
        id="composer-input"
        class="composer-input"
        rows={2}
        placeholder={props.disabled ?? (props.busy ? "Queue a follow-up… (Enter to queue, Esc to stop)" : "Ask the agent… (Enter to send, Shift+Enter for a new line)")}
        value={text()}
        disabled={!!props.disabled}
        onInput={(e) => {
          setText(e.currentTarget.value);
          noteTyping();
        }}
        onKeyDown={onKeyDown}
        aria-invalid={tooLong()}
      />
      <div class="composer-actions">
        <div class="mode-toggle" role="radiogroup" aria-label="Agent mode">
          <button type="button" role="radio" aria-checked={props.mode === "build"} class={props.mode === "build" ? "on" : ""} onClick={() => props.onMode("build")}>
            Build
          </button>
          <button type="button" role="radio" aria-checked={props.mode === "plan"} class={props.mode === "plan" ? "on" : ""} onClick={() => props.onMode("plan")}>
            Plan
          </button>
        </div>
        <span class="composer-spacer" />
        <Show when={tooLong()}>
          <span class="error-text">Too long ({text().length.toLocaleString()} / {DEFAULT_LIMITS.maxPromptChars.toLocaleString()})</span>
        </Show>
        <Show when={props.busy}>
          <button type="button" class="btn danger" onClick={() => props.onStop()} disabled={props.stopping} aria-keyshortcuts="Escape">
            {props.stopping ? "Stopping…" : "Stop"}
          </button>
        </Show>
        <button type="submit" class="btn primary" disabled={!text().trim() || tooLong() || !!props.disabled}>
          {props.busy ? "Queue" : "Send"}
        </button>
      </div>
    </form>
  );
}
