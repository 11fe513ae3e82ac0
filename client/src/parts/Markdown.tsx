/**
 * Sanitized Markdown. While text streams, only the last top-level block is re-parsed: the
 * earlier blocks are equal strings, and <For> keeps their DOM nodes untouched.
 */
import { For, createMemo, type JSX } from "solid-js";
import { renderMarkdown } from "../lib/markdown.ts";
import { splitBlocks } from "../lib/markdown-blocks.ts";

/** Copies a code block's text when its "Copy" control is activated. */
function onCopy(e: MouseEvent | KeyboardEvent): void {
  if (e instanceof KeyboardEvent && e.key !== "Enter" && e.key !== " ") return;
  const control = (e.target as HTMLElement | null)?.closest?.(".code-copy");
  const code = control?.parentElement?.querySelector("code");
  if (!control || !code) return;
  e.preventDefault();
  void navigator.clipboard?.writeText(code.textContent ?? "").then(
    () => {
      control.textContent = "Copied";
      setTimeout(() => (control.textContent = "Copy"), 1500);
    },
    () => {},
  );
}

export function Markdown(props: { text: string; class?: string }): JSX.Element {
  const blocks = createMemo(() => splitBlocks(props.text));
  return (
    <div class={`md ${props.class ?? ""}`} onClick={onCopy} onKeyDown={onCopy}>
      <For each={blocks()}>{(block) => <div class="md-block" innerHTML={renderMarkdown(block)} />}</For>
    </div>
  );
}
