/**
 * Tokens in the browser. A link carries its token in the URL fragment (`#token=…`), which never
 * reaches a server or a log. The operator's token is kept in localStorage so the session list
 * works after a reload; a session's token is kept per session for the same reason, and the
 * fragment is then removed from the address bar so it is not shared by accident in a screenshot
 * or a copied URL. The payload is decoded for display only: the Worker verifies every token.
 */
import { TokenPayloadSchema, type TokenPayload } from "../../../shared/token.ts";

const OPERATOR_KEY = "agentroom.operator";
const sessionKey = (id: string) => `agentroom.session.${id}`;

/** Reads the fragment's parameters (`#token=…&theme=…`). */
export function fragmentParams(hash: string = location.hash): URLSearchParams {
  return new URLSearchParams(hash.startsWith("#") ? hash.slice(1) : hash);
}

/** Decodes a token's payload without verifying it (the server does that). */
export function decodeToken(token: string): TokenPayload | null {
  const [body] = token.split(".");
  if (!body) return null;
  try {
    const json = atob(body.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((body.length + 3) % 4));
    const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
    const r = TokenPayloadSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
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
 * The token for one session: the fragment's, else the one saved for it, else the operator's.
 * `keepFragment` leaves the address alone (embeds: the parent page owns the URL).
 */
export function sessionToken(id: string, keepFragment = false): string | null {
  const fromUrl = fragmentParams().get("token");
  if (fromUrl) {
    store()?.setItem(sessionKey(id), fromUrl);
    if (!keepFragment) stripFragment();
    return fromUrl;
  }
  const saved = store()?.getItem(sessionKey(id)) ?? null;
  if (saved && !expired(saved)) return saved;
  const op = store()?.getItem(OPERATOR_KEY) ?? null;
  return op && !expired(op) ? op : null;
}

function stripFragment(): void {
  const rest = fragmentParams();
  rest.delete("token");
  const hash = rest.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (hash ? "#" + hash : ""));
}
