/**
 * The room header's Export menu: the session as a Markdown transcript or as OpenCode JSON
 * (`GET /api/sessions/:id/export`). Downloaded with fetch and the Bearer token, then saved from a
 * blob: a plain link would have to carry the token in its URL, which the Worker refuses (and spends).
 */
import { For, Show, createSignal, onCleanup, type JSX } from "solid-js";
import { HttpErrorSchema } from "../../../shared/protocol.ts";
import type { ExportFormat } from "../../../shared/export-record.ts";

const CHOICES: { format: ExportFormat; label: string; hint: string }[] = [
  { format: "md", label: "Markdown", hint: "A readable transcript: prompts, answers, tools, approvals, diffs" },
  { format: "json", label: "OpenCode JSON", hint: "A file to continue in OpenCode: opencode import <file>" },
];

export function ExportMenu(props: { sessionId: string; token: string }): JSX.Element {
  const [open, setOpen] = createSignal(false);
  const [busy, setBusy] = createSignal<ExportFormat | null>(null);
  const [error, setError] = createSignal<string | null>(null);
  let root: HTMLDivElement | undefined;
  const away = (e: MouseEvent) => {
    if (root && !root.contains(e.target as Node)) setOpen(false);
  };
  document.addEventListener("mousedown", away);
  onCleanup(() => document.removeEventListener("mousedown", away));

  const download = async (format: ExportFormat) => {
    setBusy(format);
    setError(null);
    try {
      const res = await fetch(`/api/sessions/${encodeURIComponent(props.sessionId)}/export?format=${format}`, {
        headers: props.token ? { authorization: `Bearer ${props.token}` } : {},
      });
      if (!res.ok) {
        const err = HttpErrorSchema.safeParse(await res.json().catch(() => null));
        throw new Error(err.success ? err.data.error.message : `${res.status} ${res.statusText}`);
      }
      const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? `${props.sessionId}.${format}`;
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setOpen(false);
    } catch (e) {
      setError(`Export failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      setBusy(null);
    }
  };

  return (
    <div class="export-menu" ref={root}>
      <button type="button" class="btn small" aria-haspopup="menu" aria-expanded={open()} onClick={() => setOpen(!open())} title="Download this session">
        Export
      </button>
      <Show when={open()}>
        <div class="export-pop card" role="menu" aria-label="Export this session">
          <For each={CHOICES}>
            {(c) => (
              <button type="button" role="menuitem" class="export-item" data-export={c.format} disabled={busy() !== null} onClick={() => void download(c.format)}>
                <span class="export-label">
                  {c.label} <span class="muted mono">.{c.format}</span>
                  <Show when={busy() === c.format}>
                    <span class="muted"> · preparing…</span>
                  </Show>
                </span>
                <span class="muted export-hint">{c.hint}</span>
              </button>
            )}
          </For>
          <Show when={error()}>
            <div class="export-error" role="alert">
              {error()}
            </div>
          </Show>
        </div>
      </Show>
    </div>
  );
}
