/**
 * A token seen in a URL is spent. URLs are written down where headers are not — the runtime's
 * request logs and trace store, Workers Logs, every proxy and browser history in between — so a
 * token that travelled in one must be treated as public, whether or not the request is served.
 *
 * Every request's path and query are looked at (cheaply: a regex, then a signature check only on
 * what has a token's shape). A share link's token (one with a link id) is refused AND its link is
 * revoked on the spot, which closes every socket opened with it, as the owner's revoke does; its
 * record then reads "revoked: exposed in a URL". A token with no link (the operator's, a runner's,
 * `npm run token`'s) cannot be revoked one by one: it is refused, and the event is logged — never
 * the token — so the operator knows to rotate the secret (README "Rotating tokens").
 *
 * A `?token=` that is no valid token is refused as it always was (401 `token_in_url`), on API
 * paths; nothing is revoked on the word of an unsigned string.
 */
import { ALL_SESSIONS, TOKEN_SHAPE, verifyToken, type TokenPayload } from "../shared/token.ts";
import type { Env } from "./env.ts";
import { httpError } from "./http.ts";
import { sessionExists } from "./known-sessions.ts";

/** Candidates checked per URL: a URL stuffed with token-shaped junk costs a bounded amount. */
const MAX_CANDIDATES = 4;

const URL_TOKEN_REFUSED = "tokens are not accepted in URLs; send Authorization: Bearer (or a WebSocket ticket)";
const LINK_SPENT =
  "this token was sent in a URL, where logs and proxies keep it, so its link has been revoked and no longer opens anything. " +
  "Ask the session's owner for a new link; open links as given (the token rides in the #token= fragment, which is never sent) " +
  "and send tokens in the Authorization: Bearer header, never in a URL.";
const SECRET_TOKEN_EXPOSED =
  "this token was sent in a URL, where logs and proxies keep it: treat it as exposed and rotate it " +
  "(a new TOKEN_SECRET, then new operator and runner tokens; README \"Rotating tokens\"). Send tokens in the Authorization: Bearer header, never in a URL.";

/** The URL as sent, percent-decoded where it decodes (a token needs no escaping, but may get it). */
function urlText(url: URL): string {
  const raw = url.pathname + url.search;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The valid tokens in a URL (signature and expiry checked; any session). */
async function tokensIn(url: URL, secret: string): Promise<TokenPayload[]> {
  const found: TokenPayload[] = [];
  const text = urlText(url);
  if (!text.includes("ey")) return found;
  let n = 0;
  for (const m of text.matchAll(TOKEN_SHAPE)) {
    if (++n > MAX_CANDIDATES) break;
    const r = await verifyToken(secret, m[0]);
    if (r.ok) found.push(r.payload);
  }
  return found;
}

/** The path for a log line, every token-shaped run replaced. */
export function redactedPath(url: URL): string {
  return urlText(url).replace(TOKEN_SHAPE, "[token]").split("?")[0]!;
}

/**
 * The refusal for a request whose URL carries a token, after spending what it carried; null when
 * the URL carries none. `api`: the path is the API's, where a bare `?token=` is refused too.
 */
export async function spendUrlTokens(url: URL, env: Env, api: boolean): Promise<Response | null> {
  const secret = env.TOKEN_SECRET;
  const tokens = secret ? await tokensIn(url, secret) : [];
  if (tokens.length === 0) return api && url.searchParams.has("token") ? httpError(401, "token_in_url", URL_TOKEN_REFUSED) : null;
  let secretTokens = 0;
  for (const t of tokens) {
    const revocable = t.lid !== undefined && t.sid !== ALL_SESSIONS;
    let revoked = false;
    if (revocable && (await sessionExists(env, t.sid))) {
      // An already revoked link counts as spent too: the answer is the same either way.
      await env.SessionRoom.getByName(t.sid).revokeLinks([t.lid!], "exposed_in_url");
      revoked = true;
    }
    if (!revocable) secretTokens++;
    console.warn(
      JSON.stringify({
        event: "token_in_url",
        role: t.role,
        session: t.sid,
        link: t.lid ?? null,
        action: revoked ? "link revoked" : revocable ? "refused (no such session)" : "refused; rotate TOKEN_SECRET",
        path: redactedPath(url),
      }),
    );
  }
  return httpError(401, "token_in_url", secretTokens > 0 ? SECRET_TOKEN_EXPOSED : LINK_SPENT);
}
