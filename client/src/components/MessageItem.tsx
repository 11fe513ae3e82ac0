/**
 * One message: a person's prompt, or the agent's answer as its parts in order, with the turn's
 * error (aborted, provider error) shown as such and a live marker while it streams.
 */
import { For, Match, Show, Switch, type JSX } from "solid-js";
import type { MessageView } from "../lib/room-view.ts";
import { PartView, isHiddenPart } from "../parts/registry.tsx";
import { formatCost, formatTokens } from "../lib/format.ts";
import { usePartComments } from "./chat-context.ts";
import { ChatIcon } from "./ChatIcon.tsx";
import type { Part } from "../../../shared/parts.ts";

/** A part, with its comment count (and the way to its thread) when the room has a chat. */
function CommentablePart(props: { part: Part }): JSX.Element {
  const comments = usePartComments();
  if (!comments) return <PartView part={props.part} />;
  const n = () => comments.count(props.part.id);
  return (
    <div class="part-row" classList={{ commented: n() > 0 }} data-part-id={props.part.id}>
      <PartView part={props.part} />
      <Show when={n() > 0 || comments.canComment()}>
        <button
          type="button"
          class={n() > 0 ? "comment-count" : "comment-add"}
          data-comment-count={n()}
          aria-label={n() > 0 ? `${n()} comment${n() === 1 ? "" : "s"} on this part` : "Comment on this part"}
          title={n() > 0 ? "Show the comments" : "Comment on this part"}
          onClick={() => comments.open(props.part.id)}
        >
          <ChatIcon />
          {n() > 0 ? n() : "+"}
        </button>
      </Show>
    </div>
  );
}

function errorText(err: { name: string; data?: Record<string, unknown> }): string {
  if (err.name === "MessageAbortedError") return "Interrupted";
  const msg = err.data && typeof err.data.message === "string" ? err.data.message : undefined;
  return msg ? `${err.name}: ${msg}` : err.name;
}

export function MessageItem(props: {
  message: MessageView;
  /** The previous message is also the agent's (a multi-step turn): no repeated header. */
  continued?: boolean;
}): JSX.Element {
  const info = () => props.message.info;
  const streaming = () => info().role === "assistant" && info().time.completed === undefined && !info().error;
  const visibleParts = () => props.message.parts.filter((p) => !isHiddenPart(p));
  return (
    <article
      class={`msg msg-${info().role} ${props.continued ? "msg-continued" : ""}`}
      data-message-id={info().id}
      data-role={info().role}
      aria-busy={streaming() ? "true" : undefined}
    >
      <Switch>
        <Match when={info().role === "user"}>
          <div class="msg-user-bubble">
            <For each={visibleParts()}>{(part) => <CommentablePart part={part} />}</For>
          </div>
        </Match>
        <Match when={info().role === "assistant"}>
          <div class="msg-assistant-head muted" classList={{ "sr-only": !!props.continued && !streaming() }}>
            <span class="agent-name">{info().agent ?? "agent"}</span>
            <Show when={info().modelID}>
              <span class="dot-sep" aria-hidden="true">·</span>
              <span>{info().modelID}</span>
            </Show>
            <Show when={streaming()}>
              <span class="live-dot" aria-label="streaming" />
            </Show>
          </div>
          <div class="msg-parts">
            <For each={visibleParts()}>{(part) => <CommentablePart part={part} />}</For>
            <Show when={streaming() && visibleParts().length === 0}>
              <div class="working-dots" role="status" aria-label="The agent is working">
                <span />
                <span />
                <span />
              </div>
            </Show>
          </div>
          <Show when={info().error}>
            {(err) => (
              <div class={`msg-error ${err().name === "MessageAbortedError" ? "aborted" : ""}`} role="note">
                {errorText(err())}
              </div>
            )}
          </Show>
          <Show when={!streaming() && info().tokens && info().cost !== undefined && visibleParts().every((p) => p.type !== "step-finish")}>
            <div class="step-finish muted">
              {formatTokens(info().tokens!.input)} in · {formatTokens(info().tokens!.output)} out · {formatCost(info().cost)}
            </div>
          </Show>
        </Match>
      </Switch>
    </article>
  );
}
