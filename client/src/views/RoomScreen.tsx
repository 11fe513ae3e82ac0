/**
 * The session view, given a room store and its actions: header (title, workspace, agent state,
 * connection, people, share), the transcript, and the driving area (docks, queue, composer).
 * `chromeless` is the embed's variant: no header chrome or side panel, same transcript and docks.
 */
import { For, Show, createEffect, createMemo, createSignal, onCleanup, onMount, type JSX } from "solid-js";
import { DEFAULT_AGENT, UNTITLED_SESSION, canAnswer, canDrive } from "../../../shared/protocol.ts";
import type { RoomActions, RoomView } from "../lib/room-view.ts";
import { Transcript } from "../components/Transcript.tsx";
import { Composer } from "../components/Composer.tsx";
import { PermissionDock, QuestionDock } from "../components/Docks.tsx";
import { QueueList } from "../components/QueueList.tsx";
import { PresenceList, RoomStatus } from "../components/StatusBar.tsx";
import { SidePanel } from "../components/SidePanel.tsx";
import { ShareDialog } from "../components/ShareDialog.tsx";
import { ExportMenu } from "../components/ExportMenu.tsx";
import { Announcer } from "../components/Announcer.tsx";
import { ThemeToggle } from "../components/ThemeToggle.tsx";
import { PartEnvContext, type PartEnv } from "../parts/context.ts";
import { ChatPanel } from "../components/ChatPanel.tsx";
import { PartCommentsContext, type PartComments } from "../components/chat-context.ts";
import { commentCounts } from "../../../shared/chat.ts";
import { unreadChat } from "../lib/chat-seen.ts";
import { partLabel } from "../lib/part-label.ts";
import { RedactedBadge } from "../components/RedactedBadge.tsx";
import { JoinAskBar, JoinRequestsDock } from "../components/JoinAsk.tsx";

/** Wide screens show the chat beside the transcript from the start; a phone keeps it in a drawer. */
const wideScreen = () => typeof window !== "undefined" && window.matchMedia?.("(min-width: 1100px)").matches === true;

export function RoomScreen(props: {
  room: RoomView;
  actions: RoomActions;
  partEnv: PartEnv;
  sessionId: string;
  token: string;
  chromeless?: boolean;
  /** Embeds: the transcript takes its content's height up to this, then scrolls. */
  autoHeight?: number;
}): JSX.Element {
  const role = () => props.room.you?.role ?? "viewer";
  const driving = () => canDrive(role()) && !props.room.session?.archived;
  const answering = () => canAnswer(role()) && !props.room.session?.archived;
  const isOwner = () => role() === "owner";
  const busy = () => {
    const s = props.room.session?.agentStatus;
    return s === "busy" || s === "retry" || s === "waiting";
  };
  const [sharing, setSharing] = createSignal(false);
  const [sideOpen, setSideOpen] = createSignal(false);
  // Chat: an embed shows it (read-only) only when its link allows chat.
  const chatAllowed = () => !props.chromeless || props.room.you?.canChat === true;
  const [chatOpen, setChatOpen] = createSignal(!props.chromeless && wideScreen());
  const [thread, setThread] = createSignal<string | null>(null);
  const [chatFocus, setChatFocus] = createSignal(0);
  const unread = () => (chatOpen() ? 0 : unreadChat(props.room.session?.chatCount, props.room.chatSeen));
  const openChat = (partID: string | null = null) => {
    setThread(partID);
    setChatOpen(true);
    setChatFocus((n) => n + 1);
  };
  // An open chat on a visible tab counts as read.
  createEffect(() => {
    void props.room.session?.chatCount;
    if (chatOpen() && chatAllowed() && document.visibilityState !== "hidden") props.actions.markChatSeen();
  });
  onMount(() => {
    const onVisible = () => document.visibilityState === "visible" && chatOpen() && props.actions.markChatSeen();
    document.addEventListener("visibilitychange", onVisible);
    onCleanup(() => document.removeEventListener("visibilitychange", onVisible));
  });
  const counts = createMemo(() => commentCounts(props.room.chat));
  const partComments: PartComments = {
    count: (id) => counts().get(id) ?? 0,
    open: (id) => openChat(id),
    canComment: () => !props.chromeless && props.room.you?.canChat === true && !props.room.session?.archived,
  };

  // Esc stops the agent from anywhere on the page (the composer handles it when focused);
  // `c` opens the chat and puts the cursor in it (README: keyboard shortcuts).
  onMount(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      const inField = !!t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable);
      if (e.key === "c" && !inField && !e.ctrlKey && !e.metaKey && !e.altKey && !sharing() && chatAllowed() && !props.chromeless) {
        e.preventDefault();
        openChat(null);
        return;
      }
      if (e.key !== "Escape" || e.defaultPrevented || !driving() || !busy() || sharing()) return;
      if (inField) return;
      props.actions.stop();
    };
    window.addEventListener("keydown", onKey);
    onCleanup(() => window.removeEventListener("keydown", onKey));
  });

  const composerDisabled = createMemo(() => {
    if (props.room.session?.archived) return "This session is archived (read-only)";
    return undefined;
  });

  return (
    <PartEnvContext.Provider value={props.partEnv}>
      <PartCommentsContext.Provider value={chatAllowed() ? partComments : undefined}>
      <div class={`room ${props.chromeless ? "chromeless" : ""}`} data-role={role()}>
        <Announcer room={props.room} />
        <header class="room-head">
          <Show when={!props.chromeless}>
            <a href="/" class="back" aria-label="All sessions">
              ‹
            </a>
          </Show>
          <div class="room-title">
            <h1 title={props.room.session?.title}>{props.room.session?.title || UNTITLED_SESSION}</h1>
            <div class="room-sub muted">
              <Show when={props.room.session?.repository ?? props.room.session?.workspace}>
                {(where) => (
                  <span class="mono" title={props.room.session?.repository ? `cloned into ${props.room.session?.workspace ?? "(cloning…)"}` : undefined}>
                    {where()}
                  </span>
                )}
              </Show>
              <Show when={props.room.session?.agent && props.room.session?.agent !== DEFAULT_AGENT}>
                <span class="badge" data-agent={props.room.session?.agent} title="The agent that runs this session (over ACP)">
                  {props.room.session?.agent}
                </span>
              </Show>
              <Show when={props.room.session?.demo}>
                <span class="badge demo" title="This session runs the built-in scripted model, not a real LLM">
                  demo model
                </span>
              </Show>
              <Show when={props.room.session?.model && !props.room.session?.demo}>
                <span>{props.room.session?.model}</span>
              </Show>
              <RedactedBadge redacted={props.room.session?.redacted} />
              <span class="badge">{role()}</span>
            </div>
          </div>
          <div class="room-status">
            <RoomStatus room={props.room} />
            <Show when={props.chromeless && chatAllowed()}>
              <button type="button" class="btn small chat-toggle" aria-expanded={chatOpen()} onClick={() => setChatOpen(!chatOpen())}>
                Chat{props.room.chat.length ? ` (${props.room.chat.filter((m) => !m.deleted).length})` : ""}
              </button>
            </Show>
            <Show when={!props.chromeless}>
              <PresenceList users={props.room.presence} total={props.room.presenceTotal} youId={props.room.you?.id} />
              <button
                type="button"
                class="btn small chat-toggle"
                aria-expanded={chatOpen()}
                aria-keyshortcuts="c"
                data-unread={unread()}
                title="Chat (c)"
                onClick={() => (chatOpen() ? setChatOpen(false) : openChat(null))}
              >
                Chat
                <Show when={unread() > 0}>
                  <span class="unread-badge" aria-label={`${unread()} unread`}>
                    {unread()}
                  </span>
                </Show>
              </button>
              <button type="button" class="btn small side-toggle" aria-expanded={sideOpen()} onClick={() => setSideOpen(!sideOpen())}>
                Changes{props.room.diff.length ? ` (${props.room.diff.length})` : ""}
              </button>
              <a class="btn small" href={`/s/${encodeURIComponent(props.sessionId)}/replay`} data-replay-link title="Play this run again">
                Replay
              </a>
              <ExportMenu sessionId={props.sessionId} token={props.token} />
              <ThemeToggle />
              <Show when={isOwner()}>
                <button type="button" class="btn small" onClick={() => setSharing(true)}>
                  Share
                </button>
              </Show>
            </Show>
          </div>
        </header>
        <Show when={props.room.session?.lastError}>
          <div class="banner error" role="alert">
            {props.room.session?.lastError}
          </div>
        </Show>
        <For each={props.room.notices}>
          {(n) => (
            <div class="banner warn" role="alert" data-notice-code={n.code}>
              <span>{n.message}</span>
              <button type="button" class="icon-button" aria-label="Dismiss" onClick={() => props.actions.dismissNotice(n.id)}>
                ✕
              </button>
            </div>
          )}
        </For>
        <div class={`room-body ${sideOpen() ? "side-open" : ""} ${chatOpen() && chatAllowed() ? "chat-open" : ""}`}>
          <main class="room-main">
            <Show
              when={props.room.ready || props.room.order.length > 0}
              fallback={<div class="loading muted">Loading the transcript…</div>}
            >
              <Transcript
                room={props.room}
                onLoadOlder={() => props.actions.loadOlder()}
                autoHeight={props.autoHeight}
                empty={
                  <div class="empty muted">
                    {driving() ? "Nothing here yet. Ask the agent something below." : "Nothing here yet. The transcript appears as the agent works."}
                  </div>
                }
              />
            </Show>
            <div
              class="drive"
              hidden={
                !!props.chromeless && !driving() && props.room.permissions.length + props.room.questions.length + props.room.queue.length === 0
              }
            >
              <Show when={role() === "owner"}>
                <JoinRequestsDock requests={props.room.joinRequests} onAnswer={(id, accept) => props.actions.answerJoin?.(id, accept)} />
              </Show>
              <For each={props.room.permissions}>
                {(req) => (
                  <PermissionDock
                    request={req}
                    canAnswer={answering()}
                    onReply={(reply, message) => props.actions.replyPermission(req.id, reply, message)}
                  />
                )}
              </For>
              <For each={props.room.questions}>
                {(q) => <QuestionDock request={q} canAnswer={answering()} onReply={(a) => props.actions.replyQuestion(q.id, a)} />}
              </For>
              <QueueList
                queue={props.room.queue}
                unsent={props.room.unsent}
                online={props.room.connection.kind === "open" || props.room.connection.kind === "catching-up"}
                canCancel={driving()}
                onCancel={(id) => props.actions.cancelQueued(id)}
              />
              <Show
                when={driving()}
                fallback={
                  <Show when={!props.chromeless}>
                    <div class="viewer-note muted" role="note">
                      You are watching{props.room.session?.archived ? " an archived session" : " (read-only)"}.
                      <Show when={role() === "viewer" && !props.room.session?.archived && props.actions.askToJoin}>
                        <JoinAskBar ask={props.room.joinAsk} onAsk={(r) => props.actions.askToJoin?.(r)} />
                      </Show>
                    </div>
                  </Show>
                }
              >
                <Composer
                  mode={props.room.session?.mode ?? "build"}
                  busy={busy()}
                  stopping={props.room.stopping}
                  disabled={composerDisabled()}
                  onSend={(text) => props.actions.prompt(text)}
                  onStop={() => props.actions.stop()}
                  onMode={(m) => props.actions.setMode(m)}
                  onTyping={(t) => props.actions.setTyping(t)}
                />
              </Show>
            </div>
          </main>
          <Show when={!props.chromeless && (sideOpen() || props.room.todos.length > 0 || props.room.diff.length > 0)}>
            <SidePanel todos={props.room.todos} diff={props.room.diff} />
          </Show>
          <Show when={chatOpen() && chatAllowed()}>
            <ChatPanel
              room={props.room}
              actions={props.actions}
              thread={thread()}
              onThread={(id) => setThread(id)}
              partLabel={(id) => partLabel(props.room, id)}
              onClose={() => setChatOpen(false)}
              readOnly={props.chromeless}
              focusKey={chatFocus()}
            />
          </Show>
        </div>
        <Show when={sharing()}>
          <ShareDialog sessionId={props.sessionId} token={props.token} origins={props.room.session?.allowedOrigins ?? []} links={props.room.links} onClose={() => setSharing(false)} />
        </Show>
      </div>
      </PartCommentsContext.Provider>
    </PartEnvContext.Provider>
  );
}
