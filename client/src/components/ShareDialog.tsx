/**
 * The owner's share menu: mint a viewer or driver link (POST /api/sessions/:id/share) and copy it,
 * copy an embed snippet for `<agent-room>`, see every link minted and revoke any of them (the
 * list follows the room's `links` frames, so every owner sees a change at once), rotate the owner
 * link, and edit the pages allowed to embed the session (PUT /api/sessions/:id/origins).
 */
import { For, Show, createEffect, createSignal, onMount, type JSX } from "solid-js";
import type { LinkRecord } from "../../../shared/protocol.ts";
import { api } from "../lib/api.ts";
import { formatRelative } from "../lib/format.ts";

export function embedSnippet(origin: string, sessionId: string, token: string): string {
  return `<script src="${origin}/embed.js" async></script>\n<agent-room session="${sessionId}" token="${token}" src-origin="${origin}" theme="auto"></agent-room>`;
}

async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false; // no clipboard permission: the text stays selectable in the field
  }
}

/** One origin per line (or comma-separated); blank lines ignored. */
export function parseOrigins(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A link's state in words: revoked (and why, when no owner did it), expired, or live until when. */
function linkState(l: LinkRecord, now: number): string {
  if (l.revokedAt !== null) return l.revokedReason === "exposed_in_url" ? "revoked: exposed in a URL" : "revoked";
  if (l.expiresAt <= now) return "expired";
  return `expires ${new Date(l.expiresAt).toLocaleDateString()}`;
}

/** The session's links, newest first, each with Revoke while it is live. */
function LinkList(props: { sessionId: string; token: string; live: LinkRecord[] | null }): JSX.Element {
  const [links, setLinks] = createSignal<LinkRecord[]>([]);
  const [error, setError] = createSignal<string>();
  /** Sharing by email only where the deployment verifies Cloudflare Access sign-ins. */
  const [accessSignIn, setAccessSignIn] = createSignal(false);
  onMount(() => {
    api.links(props.token, props.sessionId).then((r) => (setLinks(r.links), setAccessSignIn(r.accessSignIn === true)), (e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  });
  // The room's frames are the newest word once one arrives.
  createEffect(() => {
    if (props.live) setLinks(props.live.slice());
  });
  const revoke = async (id: string) => {
    setError(undefined);
    try {
      await api.revokeLink(props.token, props.sessionId, id);
      setLinks((ls) => ls.map((l) => (l.id === id && l.revokedAt === null ? { ...l, revokedAt: Date.now() } : l)));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const [email, setEmail] = createSignal("");
  const [personRole, setPersonRole] = createSignal<"viewer" | "driver" | "owner">("viewer");
  const sharePerson = async () => {
    setError(undefined);
    try {
      const r = await api.sharePerson(props.token, props.sessionId, email().trim(), personRole());
      setLinks((ls) => [r.link, ...ls.filter((l) => l.id !== r.link.id)]);
      setEmail("");
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const rotate = async () => {
    setError(undefined);
    try {
      const r = await api.rotateOwnerLink(props.token, props.sessionId);
      // The new owner link takes over this tab (read from the fragment, kept, stripped again).
      history.replaceState(history.state, "", r.url);
      location.reload();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <section class="link-list" aria-label="Links to this session">
      <h3>Links</h3>
      <table class="links" data-links>
        <thead>
          <tr>
            <th>Role</th>
            <th>Name</th>
            <th>Created</th>
            <th>Last used</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          <For each={links()}>
            {(l) => (
              <tr data-link={l.id} data-revoked={l.revokedAt !== null ? "" : undefined}>
                <td>{l.role}</td>
                <td>{l.email ?? l.name}</td>
                <td>{formatRelative(l.createdAt)}</td>
                <td>{l.lastUsedAt === null ? "never" : formatRelative(l.lastUsedAt)}</td>
                <td>{linkState(l, Date.now())}</td>
                <td>
                  <Show when={l.revokedAt === null && l.role !== "owner"}>
                    <button type="button" class="btn small danger" onClick={() => revoke(l.id)} aria-label={`Revoke ${l.role} link ${l.name}`}>
                      Revoke
                    </button>
                  </Show>
                </td>
              </tr>
            )}
          </For>
        </tbody>
      </table>
      <button type="button" class="btn small" data-rotate onClick={rotate}>
        Rotate my owner link
      </button>
      <Show when={accessSignIn()}>
        <form
          class="share-person"
          onSubmit={(e) => {
            e.preventDefault();
            void sharePerson();
          }}
        >
          <label class="field">
            <span>Share with a person who signs in with Cloudflare Access (email)</span>
            <input class="input" type="email" required placeholder="dev@example.com" value={email()} onInput={(e) => setEmail(e.currentTarget.value)} />
          </label>
          <select class="input" aria-label="Their role" value={personRole()} onChange={(e) => setPersonRole(e.currentTarget.value as "viewer" | "driver" | "owner")}>
            <option value="viewer">viewer</option>
            <option value="driver">driver</option>
            <option value="owner">owner</option>
          </select>
          <button type="submit" class="btn small">
            Share
          </button>
        </form>
      </Show>
      <Show when={error()}>
        <p class="error-text" role="alert">
          {error()}
        </p>
      </Show>
    </section>
  );
}

export function ShareDialog(props: {
  sessionId: string;
  token: string;
  origins: readonly string[];
  /** The room's latest `links` frame (owners), for live updates. */
  links?: LinkRecord[] | null;
  onClose: () => void;
}): JSX.Element {
  const [originsText, setOriginsText] = createSignal(props.origins.join("\n"));
  const [originsState, setOriginsState] = createSignal<{ saving?: boolean; saved?: boolean; error?: string }>({});
  const saveOrigins = async () => {
    setOriginsState({ saving: true });
    try {
      const r = await api.setOrigins(props.token, props.sessionId, parseOrigins(originsText()));
      setOriginsText(r.session.allowedOrigins.join("\n"));
      setOriginsState({ saved: true });
    } catch (e) {
      setOriginsState({ error: e instanceof Error ? e.message : String(e) });
    }
  };
  const [role, setRole] = createSignal<"viewer" | "driver" | "approver">("viewer");
  // ShareBody.canChat: off by default (a viewer link reads the chat but cannot post).
  const [canChat, setCanChat] = createSignal(false);
  const [link, setLink] = createSignal<{ url: string; embed: string } | null>(null);
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal<string>();
  const [copied, setCopied] = createSignal<string>();
  const mint = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await api.share(props.token, props.sessionId, role(), undefined, role() === "viewer" && canChat());
      const url = new URL(r.url, location.origin).toString();
      setLink({ url, embed: embedSnippet(location.origin, props.sessionId, r.token) });
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  const doCopy = async (what: string, text: string) => {
    if (await copy(text)) setCopied(what);
  };
  return (
    <div class="dialog-backdrop" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="share-title" onKeyDown={(e) => e.key === "Escape" && props.onClose()}>
        <h2 id="share-title">Share this session</h2>
        <div class="mode-toggle" role="radiogroup" aria-label="Link role">
          <button type="button" role="radio" aria-checked={role() === "viewer"} class={role() === "viewer" ? "on" : ""} onClick={() => { setRole("viewer"); setLink(null); }}>
            Viewer (read-only)
          </button>
          <button type="button" role="radio" aria-checked={role() === "driver"} class={role() === "driver" ? "on" : ""} onClick={() => { setRole("driver"); setLink(null); }}>
            Driver (can prompt)
          </button>
          <button type="button" role="radio" aria-checked={role() === "approver"} class={role() === "approver" ? "on" : ""} title="Sees what a viewer sees and answers permission requests and questions; cannot prompt, stop, switch mode or share" onClick={() => { setRole("approver"); setLink(null); }}>
            Approver (answers permissions)
          </button>
        </div>
        <Show when={role() === "viewer"} fallback={<p class="hint muted">Drivers and approvers can always chat.</p>}>
          <label class="check">
            <input type="checkbox" data-can-chat checked={canChat()} onChange={(e) => { setCanChat(e.currentTarget.checked); setLink(null); }} />
            <span>Viewers with this link can chat (off by default: they read the chat but cannot post; an embed shows the chat only when this is on)</span>
          </label>
        </Show>
        <button type="button" class="btn primary" onClick={mint} disabled={busy()} autofocus>
          {busy() ? "Creating…" : `Create ${role()} link`}
        </button>
        <Show when={error()}>
          <p class="error-text" role="alert">{error()}</p>
        </Show>
        <Show when={link()}>
          {(l) => (
            <>
              <label class="field">
                <span>Link</span>
                <input class="input mono" readOnly value={l().url} onFocus={(e) => e.currentTarget.select()} />
              </label>
              <button type="button" class="btn" onClick={() => doCopy("link", l().url)}>
                {copied() === "link" ? "Copied ✓" : "Copy link"}
              </button>
              <label class="field">
                <span>Embed snippet</span>
                <textarea class="input mono" readOnly rows={3} value={l().embed} onFocus={(e) => e.currentTarget.select()} />
              </label>
              <button type="button" class="btn" onClick={() => doCopy("embed", l().embed)}>
                {copied() === "embed" ? "Copied ✓" : "Copy embed snippet"}
              </button>
              <p class="hint muted">The page that embeds the room must be one of the allowed origins below; browsers refuse the frame anywhere else.</p>
            </>
          )}
        </Show>
        <LinkList sessionId={props.sessionId} token={props.token} live={props.links ?? null} />
        <label class="field">
          <span>Pages allowed to embed this session (one origin per line)</span>
          <textarea
            class="input mono"
            rows={3}
            placeholder="https://docs.example.com"
            value={originsText()}
            onInput={(e) => {
              setOriginsText(e.currentTarget.value);
              setOriginsState({});
            }}
          />
        </label>
        <button type="button" class="btn" data-save-origins onClick={saveOrigins} disabled={originsState().saving}>
          {originsState().saving ? "Saving…" : originsState().saved ? "Saved ✓" : "Save origins"}
        </button>
        <Show when={originsState().error}>
          <p class="error-text" role="alert">
            {originsState().error}
          </p>
        </Show>
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={props.onClose}>
            Close
          </button>
        </div>
      </div>
    </div>
  );
}
