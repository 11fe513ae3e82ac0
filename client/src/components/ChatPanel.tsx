/**
 * The room's chat beside the transcript (a drawer on a phone): people talking about the run. The
 * agent never sees it; a driver may send one message to it as a prompt ("Ask the agent").
 * Messages render as Markdown through the same sanitiser as agent text; `@name` of people present
 * is marked, and for the person named it stands out. A thread filter shows the comments on one
 * part of the transcript, and the composer then comments on that part.
 *
 * Keys (also in the README): Enter sends, Shift+Enter starts a new line, ↑ in an empty box edits
 * your last message, Esc cancels a reply or an edit (or closes the drawer on a phone).
 */
import { For, Show, createEffect, createMemo, createSignal, on, onCleanup, type JSX } from "solid-js";
import type { ChatMessage, PresenceUser } from "../../../shared/protocol.ts";
import { mayAsk, mayDelete, mayEdit, mentions, type ChatActor } from "../../../shared/chat.ts";
import { DEFAULT_LIMITS } from "../../../shared/limits.ts";
import { renderMarkdown } from "../lib/markdown.ts";
import type { RoomActions, RoomView } from "../lib/room-view.ts";

/** Wraps `@name` of the people present in text nodes (never in HTML source: no injection). */
function markMentions(root: HTMLElement, names: readonly string[], you: string | undefined): void {
  const list = names.filter((n) => n.trim()).sort((a, b) => b.length - a.length);
  if (!list.length) return;
  const escaped = list.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp(`(^|[^\\w@])@(${escaped.join("|")})(?![\\w-])`, "gi");
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes: Text[] = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) if (!(n.parentElement?.closest("code, pre"))) nodes.push(n as Text);
  for (const node of nodes) {
    const text = node.data;
    re.lastIndex = 0;
    if (!re.test(text)) continue;
    re.lastIndex = 0;
    const frag = document.createDocumentFragment();
    let at = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const start = m.index + m[1]!.length;
      frag.append(text.slice(at, start));
      const span = document.createElement("span");
      const isYou = you !== undefined && m[2]!.toLowerCase() === you.toLowerCase();
      span.className = isYou ? "mention mention-you" : "mention";
      span.textContent = "@" + m[2]!;
      frag.append(span);
      at = start + 1 + m[2]!.length;
    }
    frag.append(text.slice(at));
    node.replaceWith(frag);
  }
}

function ChatText(props: { text: string; names: readonly string[]; you?: string }): JSX.Element {
  let el!: HTMLDivElement;
  createEffect(() => {
    el.innerHTML = renderMarkdown(props.text);
    markMentions(el, props.names, props.you);
  });
  return <div class="md chat-text" ref={el} />;
}

const timeOf = (at: number) => new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

export function ChatPanel(props: {
  room: RoomView;
  actions: RoomActions;
  /** The thread shown: comments on this part, or null for the whole chat. */
  thread: string | null;
  onThread: (partID: string | null) => void;
  /** Shown for the thread's header and for comments' "on …" links. */
  partLabel: (partID: string) => string;
  onClose: () => void;
  /** An embed shows the chat without a composer. */
  readOnly?: boolean;
  /** Focus the composer when this changes (the `c` shortcut, a click on a part's comments). */
  focusKey?: number;
}): JSX.Element {
  const you = () => props.room.you;
  const actor = (): ChatActor | null => {
    const y = you();
    return y ? { role: y.role, name: y.name, linkId: y.linkId ?? "", linkAllowsChat: y.canChat === true } : null;
  };
  const canPost = () => !props.readOnly && you()?.canChat === true && !props.room.session?.archived;
  const names = createMemo(() => [...new Set(props.room.presence.filter((u) => u.role !== "agent").map((u) => u.name))]);
  const visible = createMemo(() => (props.thread ? props.room.chat.filter((m) => m.partID === props.thread) : props.room.chat));
  const byId = createMemo(() => new Map(props.room.chat.map((m) => [m.id, m] as const)));
  const typists = () => props.room.presence.filter((u: PresenceUser) => u.chatTyping && u.id !== you()?.id);

  const [text, setText] = createSignal("");
  const [replyTo, setReplyTo] = createSignal<ChatMessage | null>(null);
  const [editing, setEditing] = createSignal<ChatMessage | null>(null);
  let input: HTMLTextAreaElement | undefined;
  let list: HTMLDivElement | undefined;

  // New messages scroll into view when the reader is at the bottom already.
  createEffect(
    on(
      () => visible().length,
      () =>
        // Read once the whole update is in the DOM: a read here, mid-render, forced a layout of
        // the half-built page (on the first render, before the transcript existed).
        queueMicrotask(() => {
          if (!list || visible().length === 0) return;
          const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 120;
          if (nearBottom) list.scrollTop = list.scrollHeight;
        }),
    ),
  );
  createEffect(on(() => props.focusKey, () => queueMicrotask(() => input?.focus()), { defer: true }));

  let typingTimer: ReturnType<typeof setTimeout> | undefined;
  const typed = (value: string) => {
    setText(value);
    props.actions.setChatTyping(value.length > 0);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => props.actions.setChatTyping(false), 4_000);
  };
  onCleanup(() => clearTimeout(typingTimer));

  const send = () => {
    const t = text().trim();
    if (!t || t.length > DEFAULT_LIMITS.maxChatChars) return;
    const e = editing();
    if (e) props.actions.editChat(e.id, t);
    else {
      const r = replyTo();
      props.actions.chat(t, { ...(props.thread ? { partID: props.thread } : {}), ...(r ? { replyTo: r.id } : {}) });
    }
    setText("");
    setReplyTo(null);
    setEditing(null);
    props.actions.setChatTyping(false);
    props.actions.markChatSeen();
  };

  const startEdit = (m: ChatMessage) => {
    setEditing(m);
    setReplyTo(null);
    setText(m.text);
    input?.focus();
  };

  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === "ArrowUp" && text() === "") {
      const a = actor();
      const mine = a ? [...props.room.chat].reverse().find((m) => mayEdit(a, m)) : undefined;
      if (mine) {
        e.preventDefault();
        startEdit(mine);
      }
    } else if (e.key === "Escape" && (replyTo() || editing())) {
      e.preventDefault();
      e.stopPropagation();
      setReplyTo(null);
      setEditing(null);
      setText("");
    }
  };

  return (
    <aside class="chat" aria-label="Chat" data-chat-panel>
      <header class="chat-head">
        <h2>{props.thread ? "Comments" : "Chat"}</h2>
        <Show when={props.thread}>
          {(partID) => (
            <span class="chat-thread-chip" data-thread={partID()}>
              on {props.partLabel(partID())}
              <button type="button" class="icon-button" aria-label="Show all chat" onClick={() => props.onThread(null)}>
                ✕
              </button>
            </span>
          )}
        </Show>
        <span class="chat-head-note muted" title="Chat is between people; the agent does not see it">
          not seen by the agent
        </span>
        <button type="button" class="icon-button chat-close" aria-label="Close chat" onClick={() => props.onClose()}>
          ✕
        </button>
      </header>
      <div class="chat-list" role="log" aria-live="polite" ref={list}>
        <Show when={props.room.chatHasMore && !props.thread}>
          <button type="button" class="btn small chat-older" onClick={() => props.actions.loadOlderChat()}>
            Load older messages
          </button>
        </Show>
        <For
          each={visible()}
          fallback={
            <div class="chat-empty muted">
              {props.thread ? "No comments on this part yet." : "No messages yet. Talk about the run here."}
            </div>
          }
        >
          {(m) => {
            const a = actor();
            const mine = () => !!a && m.author.linkId === a.linkId;
            const mentioned = () => !m.deleted && !!you() && mentions(m.text, you()!.name);
            const parent = () => (m.replyTo ? byId().get(m.replyTo) : undefined);
            return (
              <div class="chat-msg" classList={{ mine: mine(), mentioned: mentioned(), deleted: !!m.deleted }} data-chat-id={m.id}>
                <div class="chat-meta">
                  <span class="chat-author">{m.author.name}</span>
                  <Show when={m.author.role !== "viewer"}>
                    <span class="badge">{m.author.role}</span>
                  </Show>
                  <time class="muted" dateTime={new Date(m.at).toISOString()}>
                    {timeOf(m.at)}
                  </time>
                  <Show when={m.editedAt && !m.deleted}>
                    <span class="muted">(edited)</span>
                  </Show>
                  <Show when={m.partID && !props.thread}>
                    <button type="button" class="link-button chat-on-part" onClick={() => props.onThread(m.partID!)}>
                      on {props.partLabel(m.partID!)}
                    </button>
                  </Show>
                </div>
                <Show when={parent()}>
                  {(p) => (
                    <div class="chat-quote muted">
                      ↪ {p().author.name}: {p().deleted ? "(deleted)" : p().text.slice(0, 80)}
                    </div>
                  )}
                </Show>
                <Show when={!m.deleted} fallback={<div class="chat-deleted muted">Message deleted by {m.deleted!.by}</div>}>
                  <ChatText text={m.text} names={names()} you={you()?.name} />
                </Show>
                <Show when={m.asked}>
                  {(asked) => <div class="chat-asked">Sent to the agent by {asked().by}</div>}
                </Show>
                <Show when={!props.readOnly && !m.deleted && a && (canPost() || mayDelete(a, m) || mayAsk(a, m))}>
                  <div class="chat-actions">
                    <Show when={canPost()}>
                      <button type="button" class="link-button" onClick={() => { setReplyTo(m); setEditing(null); input?.focus(); }}>
                        Reply
                      </button>
                    </Show>
                    <Show when={mayEdit(a!, m)}>
                      <button type="button" class="link-button" onClick={() => startEdit(m)}>
                        Edit
                      </button>
                    </Show>
                    <Show when={mayDelete(a!, m)}>
                      <button type="button" class="link-button" onClick={() => props.actions.deleteChat(m.id)}>
                        Delete
                      </button>
                    </Show>
                    <Show when={mayAsk(a!, m) && !props.room.session?.archived}>
                      <button type="button" class="link-button chat-ask" title="Queue this message as a prompt for the agent" onClick={() => props.actions.askAgent(m.id)}>
                        Ask the agent
                      </button>
                    </Show>
                  </div>
                </Show>
              </div>
            );
          }}
        </For>
      </div>
      <div class="chat-typing muted" aria-live="polite">
        <Show when={typists().length > 0}>
          {typists().map((u) => u.name).join(", ")} {typists().length === 1 ? "is" : "are"} writing in chat…
        </Show>
      </div>
      <Show
        when={canPost()}
        fallback={
          <Show when={!props.readOnly}>
            <div class="chat-readonly muted" role="note">
              {props.room.session?.archived ? "This session is archived." : "You can read the chat; this link cannot post."}
            </div>
          </Show>
        }
      >
        <form
          class="chat-composer"
          onSubmit={(e) => {
            e.preventDefault();
            send();
          }}
        >
          <Show when={replyTo() ?? editing()}>
            {(m) => (
              <div class="chat-context muted">
                {editing() ? "Editing your message" : `Replying to ${m().author.name}`}
                <button type="button" class="icon-button" aria-label="Cancel" onClick={() => { setReplyTo(null); setEditing(null); setText(""); }}>
                  ✕
                </button>
              </div>
            )}
          </Show>
          <textarea
            ref={input}
            class="chat-input"
            rows={2}
            aria-label={props.thread ? "Comment on this part" : "Message the room"}
            placeholder={props.thread ? "Comment on this part…" : "Message the room — @name to mention"}
            maxLength={DEFAULT_LIMITS.maxChatChars}
            value={text()}
            onInput={(e) => typed(e.currentTarget.value)}
            onKeyDown={onKey}
            onFocus={() => props.actions.markChatSeen()}
          />
          <button type="submit" class="btn primary small" disabled={!text().trim()}>
            {editing() ? "Save" : "Send"}
          </button>
        </form>
      </Show>
    </aside>
  );
}
