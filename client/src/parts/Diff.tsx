/**
 * A unified diff of two texts (the `diff` package), rendered as lines with +/- gutters.
 * Used by write/edit tool blocks and the session's file-diff panel.
 */
import { For, Show, createMemo, type JSX } from "solid-js";
import { structuredPatch } from "diff";

export interface DiffLine {
  kind: "add" | "del" | "ctx" | "hunk";
  text: string;
  oldNo?: number;
  newNo?: number;
}

/** Diff lines with line numbers; hunk headers between non-adjacent regions. */
export function diffLines(before: string, after: string, context = 3): DiffLine[] {
  const patch = structuredPatch("a", "b", before, after, "", "", { context });
  const out: DiffLine[] = [];
  for (const h of patch.hunks) {
    out.push({ kind: "hunk", text: `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@` });
    let o = h.oldStart;
    let n = h.newStart;
    for (const l of h.lines) {
      const mark = l[0];
      const text = l.slice(1);
      if (mark === "+") out.push({ kind: "add", text, newNo: n++ });
      else if (mark === "-") out.push({ kind: "del", text, oldNo: o++ });
      else if (mark === " ") out.push({ kind: "ctx", text, oldNo: o++, newNo: n++ });
      // "\ No newline at end of file" lines carry no content worth showing.
    }
  }
  return out;
}

export function Diff(props: { file?: string; before: string; after: string; maxLines?: number }): JSX.Element {
  const lines = createMemo(() => diffLines(props.before, props.after));
  const stats = createMemo(() => {
    let add = 0;
    let del = 0;
    for (const l of lines()) {
      if (l.kind === "add") add++;
      else if (l.kind === "del") del++;
    }
    return { add, del };
  });
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
