/**
 * Long text (tool output, raw input) shown shortened with a "show all" control, and, when the
 * room truncated the field itself, a button that fetches the full part over HTTP.
 */
import { Show, createMemo, createSignal, type JSX } from "solid-js";

export const PREVIEW_LINES = 30;
export const PREVIEW_CHARS = 4_000;

export function preview(text: string, lines = PREVIEW_LINES, chars = PREVIEW_CHARS): { text: string; cut: boolean; totalLines: number } {
  const totalLines = text.length === 0 ? 0 : text.split("\n").length;
  // Position of the newline that ends line number `lines`, or the end of the text.
  let cutAt = -1;
  for (let count = 0; count < lines; count++) {
    const next = text.indexOf("\n", cutAt + 1);
    if (next === -1) {
      cutAt = text.length;
      break;
    }
    cutAt = next;
  }
  if (cutAt > chars) cutAt = chars;
  return { text: text.slice(0, cutAt), cut: cutAt < text.length, totalLines };
}

export function OutputBlock(props: {
  label: string;
  text: string;
  /** Full length when the room shortened the text (a `truncated` marker). */
  serverFullChars?: number;
  onLoadFull?: () => Promise<void>;
  tone?: "error";
}): JSX.Element {
  const [expanded, setExpanded] = createSignal(false);
  const [loading, setLoading] = createSignal(false);
  const [loadError, setLoadError] = createSignal<string>();
  const shown = createMemo(() => (expanded() ? { text: props.text, cut: false, totalLines: 0 } : preview(props.text)));
  const load = async () => {
    if (!props.onLoadFull) return;
    setLoading(true);
    setLoadError(undefined);
    try {
      await props.onLoadFull();
      setExpanded(true);
    } catch (e) {
      setLoadError(e instanceof Error ? e.message : String(e));
    } finally {
      setLoading(false);
    }
  };
  return (
    <div class={`output ${props.tone === "error" ? "output-error" : ""}`}>
      <div class="output-label">{props.label}</div>
      <pre class="mono output-text">{shown().text}</pre>
      <Show when={shown().cut}>
        <button type="button" class="link-button" onClick={() => setExpanded(true)}>
          Show all ({preview(props.text).totalLines} lines, {props.text.length.toLocaleString()} characters)
        </button>
      </Show>
      <Show when={expanded() && preview(props.text).cut}>
        <button type="button" class="link-button" onClick={() => setExpanded(false)}>
          Show less
        </button>
      </Show>
      <Show when={props.serverFullChars !== undefined && props.serverFullChars > props.text.length}>
        <div class="output-truncated">
          Shortened by the room: {props.text.length.toLocaleString()} of {props.serverFullChars!.toLocaleString()} characters.{" "}
          <button type="button" class="link-button" disabled={loading()} onClick={load}>
            {loading() ? "Loading…" : "Load full output"}
          </button>
          <Show when={loadError()}>
            <span class="error-text" role="alert"> Could not load: {loadError()}</span>
          </Show>
        </div>
      </Show>
    </div>
  );
}
