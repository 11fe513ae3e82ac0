/**
 * `/`: every session, live. The lobby connection pushes the list and each change (no polling);
 * rows show status (idle / busy / waiting for approval / archived / agent offline / needs a
 * runner, with why), title,
 * workspace and last activity. Create a session, filter, archived sessions in their own section.
 */
import { For, Show, createEffect, createMemo, createResource, createSignal, onCleanup, onMount, untrack, type JSX } from "solid-js";
import { chatSeen, unreadChat } from "../lib/chat-seen.ts";
import { ChatIcon } from "../components/ChatIcon.tsx";
import { createStore, reconcile } from "solid-js/store";
import { DEFAULT_AGENT, UNTITLED_SESSION, isRepositoryUrl, type SessionStatus, type SessionSummary } from "../../../shared/protocol.ts";
import { api } from "../lib/api.ts";
import { forgetOperatorToken, operatorToken } from "../lib/auth.ts";
import { formatRelative } from "../lib/format.ts";
import { useNow } from "../lib/clock.ts";
import { LobbyClient } from "../../../shared/lobby-client.ts";
import { connectionView } from "../lib/room-store.ts";
import type { ConnectionView } from "../lib/room-view.ts";
import { ConnectionBadge } from "../components/StatusBar.tsx";
import { ThemeToggle } from "../components/ThemeToggle.tsx";

const STATUS_TEXT: Record<SessionStatus, string> = {
  idle: "Idle",
  busy: "Working",
  waiting: "Needs approval",
  archived: "Archived",
  offline: "Agent offline",
  pending: "Needs a runner",
};

/** Why a session no runner can take waits (shown in place of its workspace line). */
function waitingWhy(s: SessionSummary, now: number): string | undefined {
  if (s.status !== "pending") return undefined;
  const since = s.waitingSince !== undefined ? ` (since ${formatRelative(s.waitingSince, now)})` : "";
  return `Waiting for a runner: all runners are full${since}`;
}

export function SessionRow(props: { s: SessionSummary; now: number }): JSX.Element {
  return (
    <li data-session-id={props.s.id} data-status={props.s.status}>
      <a class="session-row" href={`/s/${encodeURIComponent(props.s.id)}`}>
        <span class={`status-pill ${props.s.status}`}>
          <span class="status-dot" aria-hidden="true" />
          {STATUS_TEXT[props.s.status]}
        </span>
        <span class="session-title">
          {props.s.title || UNTITLED_SESSION}
          <Show when={props.s.demo}>
            {" "}
            <span class="badge demo">demo</span>
          </Show>
          <Show when={props.s.agent && props.s.agent !== DEFAULT_AGENT}>
            {" "}
            <span class="badge" data-agent={props.s.agent}>{props.s.agent}</span>
          </Show>
          <Show when={unreadChat(props.s.chatCount, chatSeen(props.s.id))}>
            {(n) => (
              <>
                {" "}
                <span class="badge chat-unread" data-unread-chat={n()} title={`${n()} unread chat message${n() === 1 ? "" : "s"}`}>
                  <ChatIcon /> {n()}
                </span>
              </>
            )}
          </Show>
        </span>
        <Show when={waitingWhy(props.s, props.now)} fallback={<span class="session-meta mono">{props.s.repository ?? props.s.workspace ?? props.s.id}</span>}>
          {(why) => (
            <span class="session-meta waiting-why" title="Each runner serves at most AGENTROOM_MAX_SESSIONS sessions; this one is taken when a slot frees, longest-waiting first">
              {why()}
            </span>
          )}
        </Show>
        <span class="session-when" title={new Date(props.s.updatedAt).toLocaleString()}>
          {formatRelative(props.s.updatedAt, props.now)}
        </span>
      </a>
    </li>
  );
}

function CreateForm(props: { token: string }): JSX.Element {
  const [title, setTitle] = createSignal("");
  const [directory, setDirectory] = createSignal("");
  const [agent, setAgent] = createSignal(DEFAULT_AGENT);
  // The agents online runners offer; the choice shows only when there is one to make.
  const [agents] = createResource(() => api.agents(props.token).then((r) => r.agents).catch(() => []));
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal<string>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const where = directory().trim();
    try {
      const r = await api.createSession(props.token, {
        ...(title().trim() ? { title: title().trim() } : {}),
        // One field for both: a git URL is cloned, anything else names a directory.
        ...(where ? (isRepositoryUrl(where) ? { repository: where } : { directory: where }) : {}),
        ...(agent() !== DEFAULT_AGENT ? { agent: agent() } : {}),
      });
      location.assign(r.url.includes("#") ? r.url : `${r.url}#token=${encodeURIComponent(r.ownerToken)}`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
    }
  };
  return (
    <form class="card create-form" onSubmit={submit} aria-label="New session">
      <label class="field">
        <span>Title (optional)</span>
        <input class="input" value={title()} onInput={(e) => setTitle(e.currentTarget.value)} placeholder="Fix the flaky test" />
      </label>
      <label class="field">
        <span>Directory or git URL (optional; empty = a fresh git repository)</span>
        <input class="input mono" value={directory()} onInput={(e) => setDirectory(e.currentTarget.value)} placeholder="/srv/projects/my-app or https://…/repo.git" />
      </label>
      <Show when={(agents() ?? []).length > 1}>
        <label class="field">
          <span>Agent</span>
          <select class="input" name="agent" value={agent()} onChange={(e) => setAgent(e.currentTarget.value)}>
            <For each={agents()}>{(a) => <option value={a.id}>{a.label}</option>}</For>
          </select>
        </label>
      </Show>
      <button type="submit" class="btn primary" disabled={busy()}>
        {busy() ? "Creating…" : "New session"}
      </button>
      <Show when={error()}>
        <p class="error-text" role="alert" style={{ "grid-column": "1 / -1", margin: 0 }}>
          {error()}
        </p>
      </Show>
    </form>
  );
}

/**
 * Who lists sessions: the operator's token, or "" for an operator signed in with Cloudflare Access
 * (the edge adds their assertion to each request); undefined for anyone else. With no token the
 * list asks the API once, with no credentials of its own, whether the browser is signed in.
 */
function useListCredential(): { credential: () => string | undefined; checking: () => boolean; viaAccess: boolean } {
  const token = operatorToken() ?? undefined;
  const [credential, setCredential] = createSignal<string | undefined>(token);
  const [checking, setChecking] = createSignal(!token);
  if (!token) {
    void fetch("/api/sessions?limit=1").then(
      (res) => {
        void res.body?.cancel().catch(() => {});
        if (res.ok) setCredential("");
        setChecking(false);
      },
      () => setChecking(false),
    );
  }
  return { credential, checking, viaAccess: !token };
}

export function SessionList(): JSX.Element {
  const { credential, checking, viaAccess } = useListCredential();
  const [sessions, setSessions] = createStore<{ list: SessionSummary[] }>({ list: [] });
  const [loaded, setLoaded] = createSignal(false);
  const [connection, setConnection] = createSignal<ConnectionView>({ kind: "connecting" });
  const [filter, setFilter] = createSignal("");
  const [nextCursor, setNextCursor] = createSignal<string>();
  const [loadingMore, setLoadingMore] = createSignal(false);
  const loadMore = async () => {
    const cursor = nextCursor();
    const token = credential();
    if (!cursor || token === undefined) return;
    setLoadingMore(true);
    try {
      const page = await api.listSessions(token, { cursor });
      const known = new Set(sessions.list.map((s) => s.id));
      setSessions("list", (l) => [...l, ...page.sessions.filter((s) => !known.has(s.id))]);
      setNextCursor(page.nextCursor);
    } finally {
      setLoadingMore(false);
    }
  };
  const now = useNow();
  // The tab counts the sessions waiting on a person, so an operator sees them from another tab.
  createEffect(() => {
    const waiting = sessions.list.filter((s) => s.status === "waiting").length;
    const chat = sessions.list.reduce((n, s) => n + unreadChat(s.chatCount, chatSeen(s.id)), 0);
    const parts = [waiting ? `(${waiting}) need approval` : "", chat ? `${chat} new in chat` : ""].filter(Boolean);
    document.title = parts.length ? `${parts.join(" · ")} — agentroom` : "agentroom";
  });

  const openLobby = (token: string) => {
    // The shared lobby client: a refused token ends in "closed" (it asks the HTTP API why an
    // attempt failed) instead of reconnecting forever.
    const lobby = new LobbyClient({ host: location.origin, token });
    const offChange = lobby.onChange((change, c) => {
      if (change.kind === "reset") {
        setSessions("list", reconcile(c.list(), { key: "id" }));
        setNextCursor(c.nextCursor);
        setLoaded(true);
      } else if (change.kind === "changed") {
        const s = change.session;
        const i = sessions.list.findIndex((x) => x.id === s.id);
        if (i >= 0) setSessions("list", i, reconcile(s));
        else setSessions("list", (l) => [s, ...l]);
      } else {
        setSessions("list", (l) => l.filter((x) => x.id !== change.id));
      }
    });
    const offState = lobby.onStateChange((s) => setConnection(connectionView(s)));
    setConnection(connectionView(lobby.state));
    onCleanup(() => {
      offChange();
      offState();
      lobby.close();
    });
  };
  // Opens once there is a credential (at once with a token; after the check when signed in).
  createEffect(() => {
    const token = credential();
    if (token === undefined) return;
    untrack(() => openLobby(token));
  });

  const matches = (s: SessionSummary) => {
    const q = filter().trim().toLowerCase();
    return !q || s.title.toLowerCase().includes(q) || (s.workspace ?? "").toLowerCase().includes(q) || (s.repository ?? "").toLowerCase().includes(q) || s.id.includes(q) || s.status.includes(q);
  };
  const sorted = createMemo(() => [...sessions.list].sort((a, b) => b.updatedAt - a.updatedAt).filter(matches));
  const active = () => sorted().filter((s) => !s.archived);
  const archived = () => sorted().filter((s) => s.archived);
  const closedReason = () => {
    const c = connection();
    return c.kind === "closed" ? c.reason || "the connection ended" : undefined;
  };

  return (
    <div class="list-page">
      <header class="list-head">
        <h1>agentroom</h1>
        <Show when={credential() !== undefined}>
          <ConnectionBadge connection={connection()} />
        </Show>
        <ThemeToggle />
        <Show when={credential() !== undefined && !viaAccess}>
          <button
            type="button"
            class="btn small"
            onClick={() => {
              forgetOperatorToken();
              location.reload();
            }}
          >
            Sign out
          </button>
        </Show>
      </header>
      <Show
        when={credential() !== undefined}
        fallback={
          <div class="card empty" data-no-list>
            <Show when={!checking()} fallback={<p class="muted">Checking sign-in…</p>}>
              <p>
                Open the link that <code>npm start</code> printed (it ends in <code>#token=…</code>) to see and create sessions.
              </p>
              <p class="muted">A session link someone shared with you opens that session directly.</p>
            </Show>
          </div>
        }
      >
        <Show when={viaAccess}>
          <p class="muted" data-signed-in>Signed in with Cloudflare Access.</p>
        </Show>
        <CreateForm token={credential()!} />
        <div class="filter-row">
          <label class="sr-only" for="filter">
            Filter sessions
          </label>
          <input id="filter" class="input" type="search" placeholder="Filter by title, directory or status" value={filter()} onInput={(e) => setFilter(e.currentTarget.value)} />
          <span class="muted" aria-live="polite">
            {active().length} active{archived().length ? `, ${archived().length} archived` : ""}
          </span>
        </div>
        <Show when={closedReason()}>
          {(reason) => (
            <div class="banner error" role="alert" data-lobby-closed>
              The session list is closed: {reason()}. Open the link <code>npm start</code> printed (or mint a new operator token with{" "}
              <code>npm run token</code>), or sign out.
            </div>
          )}
        </Show>
        <Show when={loaded()} fallback={<div class="card empty muted">{closedReason() ? "No sessions to show." : "Loading sessions…"}</div>}>
          <Show when={active().length > 0} fallback={<div class="card empty muted">{filter() ? "No session matches." : "No sessions yet. Create one above."}</div>}>
            <ul class="card session-list" aria-label="Sessions">
              <For each={active()}>{(s) => <SessionRow s={s} now={now()} />}</For>
            </ul>
          </Show>
          <Show when={nextCursor()}>
            <div class="more-row">
              <button type="button" class="btn" disabled={loadingMore()} onClick={() => void loadMore()}>
                {loadingMore() ? "Loading…" : "Show older sessions"}
              </button>
            </div>
          </Show>
          <Show when={archived().length > 0}>
            <h2 class="section-title">Archived</h2>
            <ul class="card session-list" aria-label="Archived sessions">
              <For each={archived()}>{(s) => <SessionRow s={s} now={now()} />}</For>
            </ul>
          </Show>
        </Show>
      </Show>
    </div>
  );
}
