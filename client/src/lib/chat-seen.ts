/**
 * How much of a session's chat this browser has seen: the session's `chatCount` when its chat
 * was last on screen, one localStorage key per session, so the room view, the tab title and the
 * session list count unread chat the same way. Storage can be denied (a sandboxed embed): then
 * nothing counts as seen and nothing is remembered.
 */
const key = (sessionId: string) => `agentroom:chat-seen:${sessionId}`;

export function chatSeen(sessionId: string): number {
  try {
    const n = Number(window.localStorage.getItem(key(sessionId)) ?? "0");
    return Number.isFinite(n) && n >= 0 ? n : 0;
  } catch {
    return 0;
  }
}

export function setChatSeen(sessionId: string, count: number): void {
  try {
    if (count > chatSeen(sessionId)) window.localStorage.setItem(key(sessionId), String(count));
  } catch {
    // denied: unread counts simply stay
  }
}

/** Unread chat of a session: messages posted since this browser last saw its chat. */
export const unreadChat = (chatCount: number | undefined, seen: number): number => Math.max(0, (chatCount ?? 0) - seen);
