/**
 * One room as a Solid store: a shared/room-client.ts `RoomClient` (connection, cursor, gap
 * detection, resync, the Transcript) with its change records copied into the store by
 * transcript-sync.ts. The store is what the views read; the actions are what they may do.
 * Command failures become notices (the room's error message, shown and dismissable).
 */
import { batch, onCleanup } from "solid-js";
import { createStore, reconcile } from "solid-js/store";
import { RoomClient, RoomCommandError, webStoragePromptStore, type ConnectionState, type UnsentPromptStore } from "../../../shared/room-client.ts";
import type { Transcript } from "../../../shared/transcript.ts";
import { LinksResultSchema, type ServerFrame } from "../../../shared/protocol.ts";
import { api } from "./api.ts";
import { emptyRoomView, type ConnectionView, type RoomActions, type RoomView } from "./room-view.ts";
import { syncAll, syncChanges } from "./transcript-sync.ts";
import { chatSeen, setChatSeen } from "./chat-seen.ts";
import type { PartEnv } from "../parts/context.ts";
import { adoptingWebSocket, earlySocketFor } from "./early-socket.ts";

export function connectionView(s: ConnectionState): ConnectionView {
  switch (s.status) {
    case "connecting":
      return { kind: "connecting" };
    case "open":
      if (s.slow) return { kind: "open", slow: true };
      return s.live ? { kind: "open" } : { kind: "catching-up" };
    case "reconnecting":
      return { kind: "reconnecting", attempt: s.attempt, nextTryAt: s.retryAt };
    case "offline":
      return { kind: "offline" };
    case "closed":
      return { kind: "closed", reason: s.message || s.reason, ...(s.reason === "revoked" ? { revoked: true } : {}) };
  }
}

/**
 * Prompts not yet acknowledged survive a reload or a closed tab in localStorage, one key per
 * session; the room drops a resent one by its id. Storage can be denied (a sandboxed embed):
 * then they live in memory only.
 */
function browserPromptStore(sessionId: string): UnsentPromptStore | undefined {
  try {
    return webStoragePromptStore(window.localStorage, `agentroom:unsent:${sessionId}`);
  } catch {
    return undefined;
  }
}

export interface RoomStore {
  room: RoomView;
  actions: RoomActions;
  partEnv: PartEnv;
  client: RoomClient;
}

let noticeIds = 0;

/**
 * Connects to a room for the lifetime of the calling component. `persist: false` (embeds) writes
 * nothing to the app's storage: unsent prompts and the chat's read mark stay in memory.
 */
export function createRoomStore(sessionId: string, token: string, opts: { host?: string; persist?: boolean } = {}): RoomStore {
  const [room, set] = createStore<RoomView>({ ...emptyRoomView(), chatSeen: chatSeen(sessionId) });
  const host = opts.host ?? location.origin;
  const persist = opts.persist !== false;
  const promptStore = persist ? browserPromptStore(sessionId) : undefined;
  // The full app's socket may be open already (lib/early-socket.ts); embeds open their own.
  const early = opts.host === undefined && persist ? earlySocketFor(sessionId, token) : null;
  const client = new RoomClient({
    host,
    sessionId,
    token,
    promptStore,
    ...(early ? { connectionId: early.id, WebSocket: adoptingWebSocket() } : {}),
  });
  // Acks carry no event of their own; the queue change they cause (or a state change) does.
  const refreshUnsent = () => set("unsent", reconcile(client.unsentPromptList(), { key: "id" }));

  const notify = (code: RoomView["notices"][number]["code"], message: string) => {
    const id = ++noticeIds;
    set("notices", (n) => [...n.slice(-3), { id, code, message }]);
    // Notices fade on their own; errors that matter stay visible elsewhere (banners, docks).
    setTimeout(() => set("notices", (n) => n.filter((x) => x.id !== id)), 8_000);
  };
  const report = (e: unknown) => {
    if (e instanceof RoomCommandError) notify(e.code === "timeout" || e.code === "disconnected" || e.code === "closed" ? "client" : e.code, e.message);
    else notify("client", e instanceof Error ? e.message : String(e));
  };

  const first = (t: Transcript) => {
    syncAll(t, set);
    set("ready", true);
    // For the bench and tests: when the first transcript reached the screen (next frame).
    performance.mark("agentroom:transcript-synced");
    requestAnimationFrame(() => requestAnimationFrame(() => performance.mark("agentroom:transcript-painted")));
  };
  const offChange = client.onChange((changes, t) => {
    if (!room.ready) first(t);
    else syncChanges(t, changes, set);
    if (room.unsent.length) refreshUnsent();
  });
  const offState = client.onStateChange((s) => {
    refreshUnsent();
    if (s.status === "open" && !room.ready && performance.getEntriesByName("agentroom:socket-open").length === 0) performance.mark("agentroom:socket-open");
    set("connection", connectionView(s));
  });
  const offPresence = client.onPresence((users, you, total) =>
    batch(() => {
      set("presence", reconcile(users.slice(), { key: "id" }));
      set("presenceTotal", total);
      set("you", you ? reconcile(you) : null);
    }),
  );
  const offError = client.onError((e) => {
    if (e.code === "gap") return; // the client resyncs on its own; nothing for a person to do
    notify(e.code === "bad_frame_from_room" ? "internal" : e.code, e.message);
  });
  // Owners hear the link list whenever a link is minted or revoked (the Share dialog shows it).
  const offLinks = client.onFrame((f) => {
    // For the bench: the room's first frame (welcome) handled, on whichever socket.
    if (performance.getEntriesByName("agentroom:room-first-frame").length === 0) performance.mark("agentroom:room-first-frame");
    if (f.type !== "links") return;
    const r = LinksResultSchema.safeParse(f);
    if (r.success) set("links", reconcile(r.data.links, { key: "id" }));
  });
  const offJoin = client.onFrame((f) => {
    if (f.type === "join.requests") set("joinRequests", reconcile((f as Extract<ServerFrame, { type: "join.requests" }>).requests, { key: "id" }));
    else if (f.type === "join.result") {
      const r = f as Extract<ServerFrame, { type: "join.result" }>;
      if (room.joinAsk) set("joinAsk", { state: r.outcome, role: r.role ?? room.joinAsk.role, at: Date.now() });
    }
  });
  set("connection", connectionView(client.state));

  onCleanup(() => {
    offLinks();
    offJoin();
    offChange();
    offState();
    offPresence();
    offError();
    client.close();
  });

  const actions: RoomActions = {
    prompt: (text, mode) => {
      client
        .prompt(text, mode ? { mode } : {})
        .catch(report)
        .finally(refreshUnsent);
      refreshUnsent();
    },
    cancelQueued: (id) => {
      client.cancelQueued(id).catch(report);
    },
    stop: () => {
      // Instant feedback: "Stopping…" now, cleared when the room reports the agent idle.
      set("stopping", true);
      client.stop().catch((e) => {
        set("stopping", false);
        report(e);
      });
    },
    setMode: (mode) => {
      client.setMode(mode).catch(report);
    },
    replyPermission: (requestID, reply, message) => {
      client.replyPermission(requestID, reply, message).catch(report);
    },
    replyQuestion: (requestID, answers) => {
      client.replyQuestion(requestID, answers).catch(report);
    },
    loadOlder: () => {
      if (room.loadingHistory || !room.hasMore) return;
      set("loadingHistory", true);
      client
        .loadOlder()
        .catch(report)
        .finally(() => set("loadingHistory", false));
    },
    setTyping: (typing) => client.typing(typing),
    chat: (text, opts) => {
      client.chat(text, opts ?? {}).catch(report);
    },
    editChat: (id, text) => {
      client.editChat(id, text).catch(report);
    },
    deleteChat: (id) => {
      client.deleteChat(id).catch(report);
    },
    askAgent: (id) => {
      client.askAgent(id).catch(report);
    },
    loadOlderChat: () => {
      client.loadOlderChat().catch(report);
    },
    setChatTyping: (typing) => client.typing(typing, "chat"),
    markChatSeen: () => {
      const count = room.session?.chatCount ?? 0;
      if (count <= room.chatSeen) return;
      if (persist) setChatSeen(sessionId, count);
      set("chatSeen", count);
    },
    dismissNotice: (id) => set("notices", (n) => n.filter((x) => x.id !== id)),
    askToJoin: (role) => {
      const at = Date.now();
      set("joinAsk", { state: "pending", role, at });
      client.askToJoin(role).catch((e) => {
        set("joinAsk", null);
        report(e);
      });
      // The room answers nothing when no owner does: after two minutes the request is gone.
      setTimeout(() => {
        if (room.joinAsk?.state === "pending" && room.joinAsk.at === at) set("joinAsk", { state: "expired", role, at: Date.now() });
      }, 120_000);
    },
    answerJoin: (requestId, accept) => {
      client.answerJoin(requestId, accept).catch(report);
    },
  };

  const partEnv: PartEnv = { fetchFullPart: (partId) => api.part(token, sessionId, partId) };
  return { room, actions, partEnv, client };
}
