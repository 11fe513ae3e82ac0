/**
 * Sanitized Markdown. While text streams, only the last top-level block is re-parsed: the
 * earlier blocks are equal strings, and <For> keeps their DOM nodes untouched.
 */
import { For, createMemo, type JSX } from "solid-js";
import { renderMarkdown } from "../lib/markdown.ts";
import { splitBlocks } from "../lib/markdown-blocks.ts";

export function Markdown(props: { text: string; class?: string }): JSX.Element {
  const blocks = createMemo(() => splitBlocks(props.text));
  return (
    <div class={`md ${props.class ?? ""}`}>
      <For each={blocks()}>{(block) => <div class="md-block" innerHTML={renderMarkdown(block)} />}</For>
    </div>
  );
}
