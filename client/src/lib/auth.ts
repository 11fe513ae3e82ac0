/**
 * Tokens in the browser. A link carries its token in the URL fragment (`#token=…`), which never
 * reaches a server or a log. The operator's token is kept in localStorage so the session list
 * works after a reload; a session's token is kept per session for the same reason, and the
 * fragment is then removed from the address bar so it is not shared by accident in a screenshot
 * or a copied URL. The payload is decoded for display only: the Worker verifies every token.
 *
 * Two rules keep one page from spoiling another's access: an embed uses only the token it was
 * given (never the stored ones, and it stores nothing), and opening a weaker link for a session
 * (a viewer link where an owner's token is kept) uses it for that tab without replacing the
 * stronger token kept for the session.
 */
import { peekToken, type TokenPayload } from "../../../shared/token.ts";

const OPERATOR_KEY = "agentroom.operator";
const sessionKey = (id: string) => `agentroom.session.${id}`;

/** Reads the fragment's parameters (`#token=…&theme=…`). */
export function fragmentParams(hash: string = location.hash): URLSearchParams {
  return new URLSearchParams(hash.startsWith("#") ? hash.slice(1) : hash);
}

/** Decodes a token's payload without verifying it (the server does that). */
export function decodeToken(token: string): TokenPayload | null {
  return peekToken(token);
}

function store(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // storage blocked (third-party iframe, privacy mode)
  }
}

const expired = (t: string) => {
  const p = decodeToken(t);
  return !p || p.exp * 1000 < Date.now();
};

export function operatorToken(): string | null {
  const fromUrl = fragmentParams().get("token");
  const payload = fromUrl ? decodeToken(fromUrl) : null;
  if (fromUrl && payload?.sid === "*") {
    store()?.setItem(OPERATOR_KEY, fromUrl);
    stripFragment();
    return fromUrl;
  }
  const saved = store()?.getItem(OPERATOR_KEY) ?? null;
  return saved && !expired(saved) ? saved : null;
}

export function forgetOperatorToken(): void {
  store()?.removeItem(OPERATOR_KEY);
}

/**
 * The token for one session in the full app: the fragment's (read once, then removed from the
 * address bar), else the one saved for it, else the operator's.
 */
export function sessionToken(id: string): string | null {
  const fromUrl = fragmentParams().get("token");
  if (fromUrl) {
    remember(id, fromUrl);
    stripFragment();
    return fromUrl;
  }
  const saved = store()?.getItem(sessionKey(id)) ?? null;
  if (saved && !expired(saved)) return saved;
  const op = store()?.getItem(OPERATOR_KEY) ?? null;
  return op && !expired(op) ? op : null;
}

/**
 * The embed's token: the one in its own fragment (set by `<agent-room token=…>`), or none. Never
 * a stored token, so an embed on someone else's page cannot borrow the owner's access; nothing is
 * written, and the fragment is left to the parent page that set it.
 */
export function embedToken(): string | null {
  return fragmentParams().get("token") || null;
}

/** Forgets the token kept for a session if it is this one (e.g. its link was revoked). */
export function forgetSessionToken(id: string, token: string): void {
  if (store()?.getItem(sessionKey(id)) === token) store()?.removeItem(sessionKey(id));
}

const RANK: Record<TokenPayload["role"], number> = { agent: 0, viewer: 1, approver: 2, driver: 3, owner: 4 };

/** Keeps a link's token for its session, unless a stronger one still good is kept already. */
function remember(id: string, token: string): void {
  const p = decodeToken(token);
  if (!p) return;
  const saved = store()?.getItem(sessionKey(id)) ?? null;
  const kept = saved && !expired(saved) ? decodeToken(saved) : null;
  if (kept && RANK[kept.role] > RANK[p.role]) return;
  store()?.setItem(sessionKey(id), token);
}

function stripFragment(): void {
  const rest = fragmentParams();
  rest.delete("token");
  const hash = rest.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (hash ? "#" + hash : ""));
}
