/**
 * Always-visible status: the connection (connected, catching up, reconnecting with attempt and a
 * live countdown, offline), the agent (online/offline, idle/busy/waiting), and who is here.
 */
import { For, Match, Show, Switch, type JSX } from "solid-js";
import { UNTITLED_SESSION, type PresenceUser, type SessionMeta } from "../../../shared/protocol.ts";
import type { ConnectionView, RoomView } from "../lib/room-view.ts";
import type { Usage, UsageFigure } from "../../../shared/events/session.ts";
import { useNow } from "../lib/clock.ts";

export function ConnectionBadge(props: { connection: ConnectionView }): JSX.Element {
  return (
    <span class={`conn conn-${props.connection.kind}`} role="status" aria-live="polite" data-connection={props.connection.kind} data-slow={"slow" in props.connection || undefined}>
      <span class="conn-dot" aria-hidden="true" style={"slow" in props.connection ? { background: "var(--warn)" } : undefined} />
      <Switch>
        <Match when={props.connection.kind === "open" && "slow" in props.connection}>Connected — the room is busy, waiting for it to answer</Match>
        <Match when={props.connection.kind === "open"}>Connected</Match>
        <Match when={props.connection.kind === "connecting"}>Connecting…</Match>
        <Match when={props.connection.kind === "catching-up"}>Catching up…</Match>
        <Match when={props.connection.kind === "offline"}>Offline — will reconnect when the network returns</Match>
        <Match when={props.connection.kind === "closed" && props.connection}>
          {(c) => <>Disconnected: {(c() as Extract<ConnectionView, { kind: "closed" }>).reason}</>}
        </Match>
        <Match when={props.connection.kind === "reconnecting" && props.connection}>
          {(c) => <Reconnecting state={c() as Extract<ConnectionView, { kind: "reconnecting" }>} />}
        </Match>
      </Switch>
    </span>
  );
}

function Reconnecting(props: { state: Extract<ConnectionView, { kind: "reconnecting" }> }): JSX.Element {
  const now = useNow();
  const secs = () => Math.max(0, Math.ceil((props.state.nextTryAt - now()) / 1000));
  return (
    <>
      Reconnecting (attempt {props.state.attempt}
      {secs() > 0 ? `, next try in ${secs()} s` : ", trying now"})
    </>
  );
}

export function agentLabel(s: SessionMeta | null): { text: string; tone: string } {
  if (!s) return { text: "…", tone: "muted" };
  if (s.archived) return { text: "Archived (read-only)", tone: "muted" };
  if (!s.agentOnline && s.runnerWait) return { text: "Waiting for a runner — all runners are full", tone: "warn" };
  if (!s.agentOnline) return { text: "Agent offline", tone: "offline" };
  // A session made from a git URL has no workspace until the runner's clone completes (a large
  // repository takes minutes); a failed clone leaves its reason in lastError instead.
  if (s.repository && !s.workspace && !s.lastError) return { text: "Cloning the repository…", tone: "busy" };
  switch (s.agentStatus) {
    case "busy":
      return { text: "Agent working", tone: "busy" };
    case "retry":
      return { text: "Agent retrying", tone: "warn" };
    case "waiting":
      return { text: "Waiting for approval", tone: "warn" };
    default:
      return { text: "Agent idle", tone: "idle" };
  }
}

/**
 * The browser tab's title: what the agent needs or does comes first, so a driver who switched
 * tabs sees "Needs approval" without coming back.
 */
export function tabTitle(s: SessionMeta | null, unreadChat = 0): string {
  if (!s) return "agentroom";
  const chat = unreadChat > 0 ? `${unreadChat} new in chat · ` : "";
  const name = `${chat}${s.title || UNTITLED_SESSION} — agentroom`;
  if (s.archived || !s.agentOnline) return name;
  if (s.agentStatus === "waiting") return `Needs approval · ${name}`;
  if (s.agentStatus === "busy" || s.agentStatus === "retry") return `● ${name}`;
  return name;
}

export function AgentBadge(props: { session: SessionMeta | null }): JSX.Element {
  const label = () => agentLabel(props.session);
  return (
    <span class={`agent-badge tone-${label().tone}`} data-agent-status={props.session?.agentStatus} data-agent-online={props.session?.agentOnline ? "1" : "0"}>
      <span class="status-dot" aria-hidden="true" />
      {label().text}
    </span>
  );
}

/** The room's status line: the agent and the connection, and the figures the room keeps of the session. */
export function RoomStatus(props: { room: RoomView }): JSX.Element {
  return (
    <>
      <AgentBadge session={props.room.session} />
      <ConnectionBadge connection={props.room.connection} />
      <UsageBadge usage={props.room.usage} />
    </>
  );
}

const tokenCount = (n: number): string => (n < 1_000 ? String(n) : n < 1_000_000 ? `${(n / 1_000).toFixed(n < 10_000 ? 1 : 0)}k` : `${(n / 1_000_000).toFixed(1)}M`);
const money = (n: number): string => `$${n < 1 ? n.toFixed(4) : n.toFixed(2)}`;
const allTokens = (f: UsageFigure): number => f.tokens.input + f.tokens.output + f.tokens.reasoning + f.tokens.cache.read + f.tokens.cache.write;

/** The latest turn's tokens (and cost, when the model has a price) and the session's, live as OpenCode reports them. */
export function UsageBadge(props: { usage: Usage }): JSX.Element {
  const turn = () => props.usage.turn;
  const total = () => props.usage.total;
  const title = () => {
    const t = turn();
    if (!t) return "";
    const k = t.tokens;
    return `Last turn: ${k.input} input, ${k.output} output, ${k.reasoning} reasoning, ${k.cache.read} cache read, ${k.cache.write} cache write tokens; cost ${money(t.cost)}. Session: ${allTokens(total())} tokens, ${money(total().cost)}.`;
  };
  return (
    <Show when={turn()}>
      {(t) => (
        <span class="badge usage" data-usage-tokens={allTokens(total())} title={title()}>
          Turn {tokenCount(t().tokens.input)} in · {tokenCount(t().tokens.output + t().tokens.reasoning)} out
          <Show when={t().cost > 0}> · {money(t().cost)}</Show>
          <span class="muted">
            {" "}
            — session {tokenCount(allTokens(total()))} tokens
            <Show when={total().cost > 0}> · {money(total().cost)}</Show>
          </span>
        </span>
      )}
    </Show>
  );
}

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return (parts.length > 1 ? parts[0]![0]! + parts[1]![0]! : name.slice(0, 2)).toUpperCase();
}

/** `total`: everyone connected; a big room lists only some of them in `users`. */
export function PresenceList(props: { users: readonly PresenceUser[]; total?: number; youId?: string }): JSX.Element {
  const people = () => props.users.filter((u) => u.role !== "agent");
  const unlisted = () => Math.max(0, (props.total ?? props.users.length) - props.users.length);
  const more = () => people().length - 8 + unlisted();
  const typing = () => people().filter((u) => u.typing && u.id !== props.youId);
  return (
    <div class="presence" aria-label="People here">
      <ul class="avatars">
        <For each={people().slice(0, 8)}>
          {(u) => (
            <li class={`avatar role-${u.role} ${u.typing ? "typing" : ""}`} title={`${u.name} (${u.role})${u.id === props.youId ? " — you" : ""}`}>
              <span aria-hidden="true">{initials(u.name)}</span>
              <span class="sr-only">
                {u.name}, {u.role}
                {u.id === props.youId ? ", you" : ""}
              </span>
            </li>
          )}
        </For>
        <Show when={more() > 0}>
          <li class="avatar more" title={`${more()} more here`}>+{more()}</li>
        </Show>
      </ul>
      <Show when={typing().length > 0}>
        <span class="typing-note muted" aria-live="polite">
          {typing().map((u) => u.name).join(", ")} {typing().length === 1 ? "is" : "are"} typing…
        </span>
      </Show>
    </div>
  );
}
