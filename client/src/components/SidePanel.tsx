/** The session's side panel: the agent's todos and the session's file changes. */
import { For, Show, createSignal, type JSX } from "solid-js";
import type { FileDiff, Todo } from "../../../shared/parts.ts";
import { TodoList } from "../parts/TodoList.tsx";
import { Diff } from "../parts/Diff.tsx";
import { unquoteGitPath } from "../../../shared/git-path.ts";

export function FileChanges(props: { diff: readonly FileDiff[] }): JSX.Element {
  const [open, setOpen] = createSignal<string | null>(null);
  return (
    <div class="changes">
      <div class="todos-head">
        Changes <span class="muted">{props.diff.length} file{props.diff.length === 1 ? "" : "s"}</span>
      </div>
      <Show when={props.diff.length > 0} fallback={<div class="muted">No file changes yet</div>}>
        <ul class="change-list">
          <For each={props.diff}>
            {(d) => (
              <li>
                <button
                  type="button"
                  class="change-row"
                  aria-expanded={open() === d.file}
                  onClick={() => setOpen(open() === d.file ? null : d.file)}
                >
                  <span class="mono change-file">{unquoteGitPath(d.file)}</span>
                  <span class="diff-stat">
                    <span class="add">+{d.additions ?? 0}</span> <span class="del">−{d.deletions ?? 0}</span>
                  </span>
                </button>
                <Show when={open() === d.file}>
                  <Diff before={d.before ?? ""} after={d.after ?? ""} />
                </Show>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </div>
  );
}

export function SidePanel(props: { todos: readonly Todo[]; diff: readonly FileDiff[] }): JSX.Element {
  return (
    <aside class="side" aria-label="Session details">
      <Show when={props.todos.length > 0}>
        <TodoList todos={props.todos} />
      </Show>
      <Show when={props.diff.length > 0 || props.todos.length === 0}>
        <FileChanges diff={props.diff} />
      </Show>
    </aside>
  );
}
