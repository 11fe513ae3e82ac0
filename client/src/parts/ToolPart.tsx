/**
 * A tool call as a collapsible block, collapsed by default. The header shows the state
 * (pending, running with a live elapsed time, completed with its duration, error), the tool and a
 * title; the body shows the input (commands as code, file writes and edits as diffs, anything
 * else as JSON) and the output, shortened with "show all".
 */
import { Match, Show, Switch, createMemo, createSignal, type JSX } from "solid-js";
import type { Part, ToolPart as ToolPartT, ToolState } from "../../../shared/parts.ts";
import { useNow } from "../lib/clock.ts";
import { formatDuration, prettyJson } from "../lib/format.ts";
import { toolFileChange, toolTitle } from "../../../shared/tool-view.ts";
import { highlightCode } from "../lib/markdown.ts";
import { Diff } from "./Diff.tsx";
import { OutputBlock } from "./OutputBlock.tsx";
import { usePartEnv } from "./context.ts";
import { TodoList } from "./TodoList.tsx";
import type { Todo } from "../../../shared/parts.ts";

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

export { toolTitle } from "../../../shared/tool-view.ts";

const STATUS_LABEL: Record<ToolState["status"], string> = {
  pending: "Pending",
  running: "Running",
  completed: "Done",
  error: "Failed",
};

function Elapsed(props: { start: number }): JSX.Element {
  const now = useNow();
  return <span class="elapsed">{formatDuration(now() - props.start)}</span>;
}

function ToolInput(props: { tool: string; state: ToolState }): JSX.Element {
  const input = () => props.state.input ?? {};
  const change = () => toolFileChange(props.tool, props.state);
  return (
    <Switch fallback={<OutputBlock label="Input" text={prettyJson(input())} />}>
      <Match when={props.tool === "bash" && str(input().command)}>
        <div class="output">
          <div class="output-label">Command</div>
          <pre class="mono code-block">
            <code innerHTML={"$ " + highlightCode(str(input().command)!, "bash")} />
          </pre>
        </div>
      </Match>
      <Match when={change()}>{(c) => <Diff file={c().file} before={c().before} after={c().after} />}</Match>
      <Match when={props.tool === "todowrite" && Array.isArray(input().todos)}>
        <TodoList todos={input().todos as Todo[]} />
      </Match>
      <Match when={props.tool === "read" && str(input().filePath)}>
        <div class="output">
          <div class="output-label">File</div>
          <code class="mono">{str(input().filePath)}</code>
        </div>
      </Match>
    </Switch>
  );
}

export function ToolPart(props: { part: Part }): JSX.Element {
  const env = usePartEnv();
  const [full, setFull] = createSignal<ToolPartT>();
  const [open, setOpen] = createSignal(false);
  const part = () => (full() ?? props.part) as ToolPartT;
  const state = () => part().state;
  const status = () => state().status;
  const title = createMemo(() => toolTitle(part().tool, state()));
  const truncatedOutput = () => props.part.truncated?.find((t) => t.field === "state.output");
  const bodyId = `tool-body-${props.part.id}`;
  const loadFull = async () => {
    const p = await env.fetchFullPart(props.part.id);
    setFull(p as ToolPartT);
  };
  return (
    <div class={`tool tool-${status()}`} data-part-type="tool" data-tool={part().tool} data-status={status()}>
      <button
        type="button"
        class="tool-head"
        aria-expanded={open()}
        aria-controls={bodyId}
        onClick={() => setOpen(!open())}
      >
        <span class={`status-dot ${status()}`} aria-hidden="true" />
        <span class="sr-only">{STATUS_LABEL[status()]}:</span>
        <span class="tool-name">{part().tool}</span>
        <span class="tool-title">{title()}</span>
        <span class="tool-time">
          <Switch>
            <Match when={status() === "running" && state().status === "running" && state()}>
              {(s) => <Elapsed start={(s() as Extract<ToolState, { status: "running" }>).time.start} />}
            </Match>
            <Match when={(status() === "completed" || status() === "error") && state()}>
              {(s) => {
                const t = (s() as Extract<ToolState, { status: "completed" }>).time;
                return <span class="elapsed">{formatDuration(t.end - t.start)}</span>;
              }}
            </Match>
            <Match when={status() === "pending"}>
              <span class="elapsed">waiting</span>
            </Match>
          </Switch>
        </span>
        <span class="chevron" aria-hidden="true">
          ›
        </span>
      </button>
      <Show when={open()}>
        <div class="tool-body" id={bodyId}>
          <ToolInput tool={part().tool} state={state()} />
          {/* todowrite's output repeats its input as JSON: the list above says it better. */}
          <Show when={state().status === "completed" && part().tool !== "todowrite"}>
            <OutputBlock
              label="Output"
              text={(state() as Extract<ToolState, { status: "completed" }>).output}
              serverFullChars={truncatedOutput()?.fullChars}
              onLoadFull={loadFull}
            />
          </Show>
          <Show when={state().status === "error"}>
            <OutputBlock label="Error" tone="error" text={(state() as Extract<ToolState, { status: "error" }>).error} />
          </Show>
        </div>
      </Show>
    </div>
  );
}
