/** The agent's todo list (from `todo.update` events and the todowrite tool's input). */
import { For, Show, type JSX } from "solid-js";
import type { Todo } from "../../../shared/parts.ts";

const MARK: Record<string, string> = { completed: "✓", in_progress: "◐", pending: "○", cancelled: "✕" };

export function TodoList(props: { todos: readonly Todo[] }): JSX.Element {
  const done = () => props.todos.filter((t) => t.status === "completed").length;
  return (
    <div class="todos">
      <div class="todos-head">
        Todos <span class="muted">{done()}/{props.todos.length}</span>
      </div>
      <Show when={props.todos.length > 0} fallback={<div class="muted">No todos</div>}>
        <ul class="todo-list">
          <For each={props.todos}>
            {(t) => (
              <li class={`todo todo-${t.status}`}>
                <span class="todo-mark" aria-hidden="true">{MARK[t.status] ?? "•"}</span>
                <span class="sr-only">{t.status.replace("_", " ")}:</span>
                <span class="todo-text">{t.content}</span>
              </li>
            )}
          </For>
        </ul>
      </Show>
    </div>
  );
}
