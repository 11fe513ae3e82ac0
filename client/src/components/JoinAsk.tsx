/**
 * Asking to join (party/room/join-ask.ts): a viewer's "Ask to drive" / "Ask to approve", and the
 * owners' dock of requests, each accepted or declined in one click.
 */
import { For, Show } from "solid-js";
import type { JoinRequest } from "../../../shared/protocol.ts";
import type { JoinAskView } from "../lib/room-view.ts";

const roleWord = (r: JoinRequest["role"]) => (r === "driver" ? "drive" : "approve");

export function JoinAskBar(props: { ask: JoinAskView | null; onAsk: (role: JoinRequest["role"]) => void }) {
  const text = () => {
    const a = props.ask;
    if (!a) return "";
    if (a.state === "pending") return `Asked the owners to let you ${roleWord(a.role)}…`;
    if (a.state === "declined") return "An owner declined. You may ask again in a minute.";
    if (a.state === "expired") return "No owner answered.";
    return `You may ${roleWord(a.role)} now.`;
  };
  const canAsk = () => !props.ask || props.ask.state === "expired" || (props.ask.state === "declined" && Date.now() - props.ask.at >= 60_000);
  return (
    <span class="join-ask" data-join-ask={props.ask?.state ?? "none"}>
      <Show when={props.ask}>
        <span role="status"> {text()}</span>
      </Show>
      <Show when={canAsk()}>
        <button type="button" class="btn small" onClick={() => props.onAsk("driver")}>
          Ask to drive
        </button>
        <button type="button" class="btn small" onClick={() => props.onAsk("approver")}>
          Ask to approve
        </button>
      </Show>
    </span>
  );
}

export function JoinRequestsDock(props: { requests: JoinRequest[]; onAnswer: (id: string, accept: boolean) => void }) {
  return (
    <For each={props.requests}>
      {(r) => (
        <div class="dock join-request" role="alert" data-join-request={r.id}>
          <span>
            <strong>{r.name}</strong> asks to {roleWord(r.role)}.
          </span>
          <span class="join-actions">
            <button type="button" class="btn primary small" onClick={() => props.onAnswer(r.id, true)}>
              Accept
            </button>
            <button type="button" class="btn small" onClick={() => props.onAnswer(r.id, false)}>
              Decline
            </button>
          </span>
        </div>
      )}
    </For>
  );
}
