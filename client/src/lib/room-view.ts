/**
 * The shape of one room as the views read it: a Solid store kept in step with the room client.
 * Messages are kept by id with their parts in order, so a text delta writes one string in one
 * part and Solid updates that part's text alone.
 */
import type {
  AgentStatus,
  ChatMessage,
  JoinRequest,
  LinkRecord,
  Mode,
  PermissionRequest,
  PresenceUser,
  QueueItem,
  QuestionRequest,
  SessionMeta,
} from "../../../shared/protocol.ts";
import type { Message, Part } from "../../../shared/parts.ts";
import { initialSlices, type SliceValues } from "../../../shared/events/registry.ts";
import type { UnsentPrompt } from "../../../shared/room-client.ts";

export interface MessageView {
  info: Message;
  parts: Part[];
}

/** Connection state as people see it (mirrors the room client's explicit state). */
export type ConnectionView =
  | { kind: "connecting" }
  | { kind: "catching-up" }
  /** `slow`: connected, but the room has not answered a ping for a while — busy, not gone. */
  | { kind: "open"; slow?: true }
  | { kind: "reconnecting"; attempt: number; nextTryAt: number }
  | { kind: "offline" }
  /** `revoked`: the owner revoked the link (close 4411 or HTTP 401 `revoked`). */
  | { kind: "closed"; reason: string; revoked?: boolean };

export interface Notice {
  id: number;
  /** The room's error code, or "client" for failures seen only here (timeouts, drops). */
  code: string;
  message: string;
}

/** Each slice of session state (shared/events/registry.ts: todos, diff, ...) is there under its name. */
export interface RoomView extends SliceValues {
  session: SessionMeta | null;
  you: PresenceUser | null;
  connection: ConnectionView;
  /** Message ids, oldest first. */
  order: string[];
  messages: Record<string, MessageView>;
  hasMore: boolean;
  loadingHistory: boolean;
  queue: QueueItem[];
  permissions: PermissionRequest[];
  questions: QuestionRequest[];
  presence: PresenceUser[];
  /** Everyone connected, listed in `presence` or not. */
  presenceTotal: number;
  /** Prompts this browser sent that the room has not acknowledged yet (offline, or in flight). */
  unsent: UnsentPrompt[];
  notices: Notice[];
  /** Stop was pressed and the room has not yet reported the agent idle. */
  stopping: boolean;
  /** Set once the first snapshot or replay has been applied. */
  ready: boolean;
  /** The chat loaded so far, oldest first (shared/chat.ts), and whether older messages exist. */
  chat: ChatMessage[];
  chatHasMore: boolean;
  /** `session.chatCount` when this browser last had the chat on screen (lib/chat-seen.ts). */
  chatSeen: number;
  /** Owners only: the session's link records as the room last sent them (null until it does). */
  links: LinkRecord[] | null;
  /** Owners only: viewers asking to join, as the room last sent them. */
  joinRequests: JoinRequest[];
  /** This viewer's request to join, once made. */
  joinAsk: JoinAskView | null;
}

export interface JoinAskView {
  state: "pending" | "accepted" | "declined" | "expired";
  role: JoinRequest["role"];
  /** When the state was reached (ms): a declined viewer may ask again a minute later. */
  at: number;
}

export const emptyRoomView = (): RoomView => ({
  session: null,
  you: null,
  connection: { kind: "connecting" },
  order: [],
  messages: {},
  hasMore: false,
  loadingHistory: false,
  queue: [],
  permissions: [],
  questions: [],
  ...initialSlices(),
  presence: [],
  presenceTotal: 0,
  unsent: [],
  notices: [],
  stopping: false,
  ready: false,
  chat: [],
  chatHasMore: false,
  chatSeen: 0,
  links: null,
  joinRequests: [],
  joinAsk: null,
});

/** The actions the views may take; a viewer's UI never offers the driving ones. */
export interface RoomActions {
  prompt(text: string, mode?: Mode): void;
  cancelQueued(id: string): void;
  stop(): void;
  setMode(mode: Mode): void;
  replyPermission(requestID: string, reply: "once" | "always" | "reject", message?: string): void;
  replyQuestion(requestID: string, answers: string[][] | null): void;
  loadOlder(): void;
  setTyping(typing: boolean): void;
  dismissNotice(id: number): void;
  /** Chat: post (a comment on a part with `partID`, an answer with `replyTo`), edit, delete, ask the agent. */
  chat(text: string, opts?: { partID?: string; replyTo?: string }): void;
  editChat(id: string, text: string): void;
  deleteChat(id: string): void;
  askAgent(id: string): void;
  loadOlderChat(): void;
  setChatTyping(typing: boolean): void;
  /** The chat is on screen: everything posted so far counts as read. */
  markChatSeen(): void;
  /** A viewer asks the owners for a role; an owner answers a request. */
  askToJoin?(role: JoinRequest["role"]): void;
  answerJoin?(requestId: string, accept: boolean): void;
}

export type { AgentStatus };
