/**
 * A unified diff of two texts (the `diff` package), rendered as lines with +/- gutters.
 * Used by write/edit tool blocks and the session's file-diff panel.
 */
import { For, Show, createMemo, type JSX } from "solid-js";
import { diffLines, diffStats } from "../../../shared/tool-view.ts";

export { diffLines, type DiffLine } from "../../../shared/tool-view.ts";

export function Diff(props: { file?: string; before: string; after: string; maxLines?: number }): JSX.Element {
  const lines = createMemo(() => diffLines(props.before, props.after));
  const stats = createMemo(() => diffStats(lines()));
  const max = () => props.maxLines ?? 400;
  return (
    <figure class="diff" aria-label={props.file ? `Changes to ${props.file}` : "Changes"}>
      <Show when={props.file}>
        <figcaption class="diff-file">
          <span class="mono">{props.file}</span>
          <span class="diff-stat">
            <span class="add">+{stats().add}</span> <span class="del">−{stats().del}</span>
          </span>
        </figcaption>
      </Show>
      <Show when={lines().length > 0} fallback={<div class="diff-empty">No changes</div>}>
        <div class="diff-body mono" role="table">
          <For each={lines().slice(0, max())}>
            {(l) => (
              <div class={`diff-line ${l.kind}`} role="row">
                <span class="no" aria-hidden="true">{l.oldNo ?? ""}</span>
                <span class="no" aria-hidden="true">{l.newNo ?? ""}</span>
                <span class="sign" aria-hidden="true">{l.kind === "add" ? "+" : l.kind === "del" ? "−" : l.kind === "hunk" ? "" : " "}</span>
                <span class="code" role="cell">
                  <Show when={l.kind !== "ctx"}>
                    <span class="sr-only">{l.kind === "add" ? "added: " : l.kind === "del" ? "removed: " : ""}</span>
                  </Show>
                  {l.text}
                </span>
              </div>
            )}
          </For>
          <Show when={lines().length > max()}>
            <div class="diff-more">… {lines().length - max()} more lines</div>
          </Show>
        </div>
      </Show>
    </figure>
  );
}
