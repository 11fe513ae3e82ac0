/**
 * Security headers of the app's HTML. Every page (`/`, `/s/:id`, the SPA fallback) refuses to be
 * framed (`frame-ancestors 'none'` and, for older browsers, `X-Frame-Options: DENY`): a page that
 * frames the app would get the owner's full UI from the token the app keeps. Only `/embed/:id` may
 * be framed, by the session's allowed origins. The rest of the policy is what the app needs and no
 * more: its own scripts (no inline ones), its own styles plus inline style attributes (sanitized
 * Markdown and Solid set them), data: images (the favicon), sockets and fetches to its own origin.
 */

const BASE_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

export const APP_CSP = `${BASE_POLICY}; frame-ancestors 'none'`;

/** The embed's policy: framed by itself and the session's allowed origins only. */
export function embedCsp(origins: readonly string[]): string {
  const safe = origins.filter((o) => /^https?:\/\/[A-Za-z0-9.:[\]-]+$/.test(o));
  return `${BASE_POLICY}; frame-ancestors 'self'${safe.map((o) => " " + o).join("")}`;
}

function isHtml(res: Response): boolean {
  return (res.headers.get("content-type") ?? "").toLowerCase().startsWith("text/html");
}

/** A copy of an asset response with the app's headers when it is HTML (scripts and styles pass as they are). */
export function withAppHeaders(res: Response): Response {
  if (!isHtml(res)) return res;
  const out = new Response(res.body, res);
  out.headers.set("Content-Security-Policy", APP_CSP);
  out.headers.set("X-Frame-Options", "DENY");
  out.headers.set("X-Content-Type-Options", "nosniff");
  out.headers.set("Referrer-Policy", "no-referrer");
  return out;
}

/** The embed page: framable by `origins`, never cached (the list can change). */
export function withEmbedHeaders(res: Response, origins: readonly string[]): Response {
  const out = new Response(res.body, res);
  out.headers.set("Content-Security-Policy", embedCsp(origins));
  out.headers.delete("X-Frame-Options");
  out.headers.set("X-Content-Type-Options", "nosniff");
  out.headers.set("Referrer-Policy", "no-referrer");
  out.headers.set("Cache-Control", "no-store");
  return out;
}
