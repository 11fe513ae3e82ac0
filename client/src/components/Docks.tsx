/**
 * What the agent is waiting for, docked above the composer: permission requests (once / always /
 * reject with an optional message) and questions. Drivers answer; viewers see that the agent is
 * waiting for approval, so nobody wonders why it stopped.
 */
import { For, Index, Show, createSignal, type JSX } from "solid-js";
import type { PermissionReply, PermissionRequest, QuestionRequest } from "../../../shared/protocol.ts";

export function PermissionDock(props: {
  request: PermissionRequest;
  canAnswer: boolean;
  onReply: (reply: PermissionReply, message?: string) => void;
}): JSX.Element {
  const [message, setMessage] = createSignal("");
  const [sent, setSent] = createSignal<PermissionReply>();
  const reply = (r: PermissionReply) => {
    setSent(r);
    props.onReply(r, message().trim() || undefined);
  };
  const headingId = `perm-${props.request.id}`;
  return (
    <section class="dock dock-permission" role="alertdialog" aria-labelledby={headingId} data-request-id={props.request.id}>
      <div class="dock-head" id={headingId}>
        <span class="badge warn">permission</span> The agent wants to run <strong>{props.request.permission}</strong>
        <Show when={props.request.title}>: {props.request.title}</Show>
      </div>
      <Show when={props.request.patterns.length > 0}>
        <pre class="mono dock-patterns">{props.request.patterns.join("\n")}</pre>
      </Show>
      <Show
        when={props.canAnswer}
        fallback={<div class="muted" role="status">Waiting for approval by a driver…</div>}
      >
        <label class="sr-only" for={`perm-msg-${props.request.id}`}>
          Message to the agent (optional)
        </label>
        <input
          id={`perm-msg-${props.request.id}`}
          class="input"
          placeholder="Optional message to the agent (e.g. why you reject)"
          value={message()}
          onInput={(e) => setMessage(e.currentTarget.value)}
        />
        <div class="dock-actions">
          <button type="button" class="btn primary" disabled={!!sent()} onClick={() => reply("once")}>
            Allow once
          </button>
          <button type="button" class="btn" disabled={!!sent()} onClick={() => reply("always")}>
            Always allow
          </button>
          <button type="button" class="btn danger" disabled={!!sent()} onClick={() => reply("reject")}>
            Reject
          </button>
          <Show when={sent()}>
            <span class="muted" role="status">Sent: {sent()}</span>
          </Show>
        </div>
      </Show>
    </section>
  );
}

export function QuestionDock(props: {
  request: QuestionRequest;
  canAnswer: boolean;
  onReply: (answers: string[][] | null) => void;
}): JSX.Element {
  // One set of chosen labels per question, plus free text.
  const [chosen, setChosen] = createSignal<string[][]>(props.request.questions.map(() => []));
  const [custom, setCustom] = createSignal<string[]>(props.request.questions.map(() => ""));
  const [sent, setSent] = createSignal(false);
  const toggle = (qi: number, label: string, multiple: boolean) => {
    setChosen((prev) =>
      prev.map((c, i) => {
        if (i !== qi) return c;
        if (multiple) return c.includes(label) ? c.filter((x) => x !== label) : [...c, label];
        return [label];
      }),
    );
  };
  const answers = () => chosen().map((c, i) => (custom()[i]?.trim() ? [...c, custom()[i]!.trim()] : c));
  const complete = () => answers().every((a) => a.length > 0);
  return (
    <section class="dock dock-question" aria-label="Question from the agent" data-request-id={props.request.id}>
      <Index each={props.request.questions}>
        {(q, qi) => (
          <fieldset class="question" disabled={!props.canAnswer || sent()}>
            <legend>
              <Show when={q().header}>
                <span class="badge">{q().header}</span>{" "}
              </Show>
              {q().question}
            </legend>
            <div class="question-options">
              <For each={q().options}>
                {(o) => (
                  <button
                    type="button"
                    class={`option ${chosen()[qi]?.includes(o.label) ? "on" : ""}`}
                    aria-pressed={chosen()[qi]?.includes(o.label) ?? false}
                    onClick={() => toggle(qi, o.label, !!q().multiple)}
                    title={o.description}
                  >
                    {o.label}
                    <Show when={o.description}>
                      <span class="muted option-desc">{o.description}</span>
                    </Show>
                  </button>
                )}
              </For>
            </div>
            <Show when={props.canAnswer}>
              <input
                class="input"
                placeholder="Or type an answer"
                aria-label="Your own answer"
                value={custom()[qi] ?? ""}
                onInput={(e) => {
                  const v = e.currentTarget.value;
                  setCustom((prev) => prev.map((c, i) => (i === qi ? v : c)));
                }}
              />
            </Show>
          </fieldset>
        )}
      </Index>
      <Show when={props.canAnswer} fallback={<div class="muted" role="status">Waiting for a driver to answer…</div>}>
        <div class="dock-actions">
          <button
            type="button"
            class="btn primary"
            disabled={!complete() || sent()}
            onClick={() => {
              setSent(true);
              props.onReply(answers());
            }}
          >
            Answer
          </button>
          <button
            type="button"
            class="btn"
            disabled={sent()}
            onClick={() => {
              setSent(true);
              props.onReply(null);
            }}
          >
            Dismiss
          </button>
        </div>
      </Show>
    </section>
  );
}
