/**
 * Sanitized Markdown. While text streams, only the last top-level block renders again: the
 * earlier blocks keep their keys, and <For> keeps their DOM nodes untouched.
 */
import { For, createMemo, untrack, type JSX } from "solid-js";
import { renderTokens } from "../lib/markdown.ts";
import { BlockSplitter } from "../lib/markdown-blocks.ts";

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
  const splitter = new BlockSplitter();
  const blocks = createMemo(() => splitter.split(props.text));
  return (
    <div class={`md ${props.class ?? ""}`} onClick={onCopy} onKeyDown={onCopy}>
      <For each={blocks().keys}>
        {(key) => {
          // A block's tokens are read once: a later split only hands over new keys. The render
          // stays tracked for the highlighter, which colours code when it loads.
          const tokens = untrack(() => blocks().tokens.get(key) ?? []);
          return <div class="md-block" innerHTML={renderTokens(tokens)} />;
        }}
      </For>
    </div>
  );
}
