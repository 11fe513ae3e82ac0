/**
 * Which session a command is about, and with which token. A session URL is the app's link
 * (`https://…/s/<id>#token=…`, also `/s/<id>/replay`, `/embed/<id>` and `/api/sessions/<id>/…`);
 * its token travels in the fragment, as the app's share links carry it (client/src/lib/auth.ts),
 * else in `AGENTROOM_TOKEN`, else it is asked for without echo. A token is never printed: errors
 * name the URL without its fragment.
 */

export interface Target {
  /** The Worker's origin, e.g. "https://agentroom.example.workers.dev". */
  origin: string;
  sessionId: string;
  /** The token from the URL's fragment, if it had one. */
  fragmentToken?: string;
  /** The URL as it may be shown: no fragment. */
  shown: string;
}

const PATHS = [/^\/s\/([^/]+)/, /^\/embed\/([^/]+)/, /^\/api\/sessions\/([^/]+)/];

export class UsageError extends Error {
  override name = "UsageError";
}

/** Reads a session URL; a bare id is taken with `AGENTROOM_URL` as the origin. */
export function parseTarget(arg: string, env: Record<string, string | undefined> = process.env): Target {
  let url: URL;
  try {
    url = new URL(arg);
  } catch {
    const base = env.AGENTROOM_URL;
    if (/^[\w-]{1,128}$/.test(arg) && base) url = new URL(`/s/${arg}`, base);
    else throw new UsageError(`not a session URL: ${arg.split("#")[0]} (expected e.g. https://host/s/<session id>#token=…)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`not an http(s) URL: ${url.protocol}//${url.host}${url.pathname}`);
  const shown = `${url.origin}${url.pathname}`;
  let sessionId: string | undefined;
  for (const re of PATHS) {
    const m = url.pathname.match(re);
    if (m?.[1]) sessionId = decodeURIComponent(m[1]);
  }
  if (!sessionId) throw new UsageError(`no session in ${shown} (expected a path /s/<session id>)`);
  if (url.searchParams.has("token")) throw new UsageError(`${shown}: a token in the query string is refused (URLs reach logs); put it after # or in AGENTROOM_TOKEN`);
  const fragment = new URLSearchParams(url.hash.replace(/^#/, ""));
  const fragmentToken = fragment.get("token") || undefined;
  return { origin: url.origin, sessionId, shown, ...(fragmentToken ? { fragmentToken } : {}) };
}

/** Reads one line from a terminal without echoing it (a token). Resolves null on Ctrl-C / Ctrl-D. */
export function readSecret(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<string | null> {
  return new Promise((resolve) => {
    output.write(question);
    input.setRawMode?.(true);
    input.resume();
    let value = "";
    const done = (v: string | null) => {
      input.off("data", onData);
      input.setRawMode?.(false);
      input.pause();
      output.write("\n");
      resolve(v);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done(value.trim());
        if (ch === "\x03" || ch === "\x04") return done(null);
        if (ch === "\x7f" || ch === "\b") value = value.slice(0, -1);
        else if (ch >= " ") value += ch;
      }
    };
    input.on("data", onData);
  });
}

/** The token for a target: the fragment's, else `AGENTROOM_TOKEN`, else asked for (terminals only). */
export async function resolveToken(target: Target, env: Record<string, string | undefined> = process.env): Promise<string> {
  const token = target.fragmentToken ?? (env.AGENTROOM_TOKEN?.trim() || undefined);
  if (token) return token;
  if (!process.stdin.isTTY) throw new UsageError("no token: add #token=… to the session URL or set AGENTROOM_TOKEN");
  const typed = await readSecret(`Token for session ${target.sessionId} (not shown): `);
  if (!typed) throw new UsageError("no token given");
  return typed;
}

/** The message of an HTTP error answer (`{"error":{"code","message"}}`), or the status. */
export async function httpError(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.message) return `${res.status} ${body.error.code ?? ""}: ${body.error.message}`.replace(" :", ":");
  } catch {
    // not JSON
  }
  return `${res.status} ${res.statusText}`;
}
