/**
 * The small part renderers: text, reasoning, step-finish, file, patch, agent, subtask, retry,
 * compaction, and the generic fallback for types we do not know.
 */
import { For, Show, createMemo, createSignal, type JSX } from "solid-js";
import type {
  AgentPart as AgentPartT,
  CompactionPart as CompactionPartT,
  FilePart as FilePartT,
  Part,
  PatchPart as PatchPartT,
  ReasoningPart as ReasoningPartT,
  RetryPart as RetryPartT,
  StepFinishPart as StepFinishPartT,
  SubtaskPart as SubtaskPartT,
  TextPart as TextPartT,
} from "../../../shared/parts.ts";
import { formatCost, formatDuration, formatTokens, prettyJson, shortPath } from "../lib/format.ts";
import { Markdown } from "./Markdown.tsx";
import { OutputBlock } from "./OutputBlock.tsx";
import { usePartEnv } from "./context.ts";
import { unquoteGitPath } from "../../../shared/git-path.ts";

/** Text that the room shortened, with a way to load the rest. */
function useFullText(part: () => Part): { text: () => string; missing: () => number; load: () => Promise<void> } {
  const env = usePartEnv();
  const [full, setFull] = createSignal<string>();
  const marker = () => part().truncated?.find((t) => t.field === "text");
  return {
    text: () => full() ?? (part() as TextPartT).text,
    missing: () => (full() === undefined && marker() ? marker()!.fullChars - (part() as TextPartT).text.length : 0),
    load: async () => {
      const p = (await env.fetchFullPart(part().id)) as TextPartT;
      setFull(p.text);
    },
  };
}

export function TextPart(props: { part: Part }): JSX.Element {
  const t = useFullText(() => props.part);
  return (
    <div class="part-text" data-part-type="text">
      <Markdown text={t.text()} />
      <Show when={t.missing() > 0}>
        <button type="button" class="link-button" onClick={() => void t.load()}>
          Load the remaining {t.missing().toLocaleString()} characters
        </button>
      </Show>
    </div>
  );
}

export function ReasoningPart(props: { part: Part }): JSX.Element {
  const p = () => props.part as ReasoningPartT;
  const duration = () => {
    const time = p().time;
    return time?.end !== undefined ? formatDuration(time.end - time.start) : undefined;
  };
  return (
    <details class="reasoning" data-part-type="reasoning">
      <summary>
        <span class="reasoning-label">{duration() ? `Thought for ${duration()}` : "Thinking…"}</span>
      </summary>
      <Markdown class="reasoning-text" text={p().text} />
    </details>
  );
}

export function StepFinishPart(props: { part: Part }): JSX.Element {
  const p = () => props.part as StepFinishPartT;
  const tk = () => p().tokens;
  const label = () =>
    `${formatTokens(tk().input)} in · ${formatTokens(tk().output)} out` +
    (tk().reasoning ? ` · ${formatTokens(tk().reasoning)} reasoning` : "") +
    (tk().cache.read ? ` · ${formatTokens(tk().cache.read)} cached` : "");
  return (
    <div class="step-finish muted" data-part-type="step-finish">
      <span title="tokens">{label()}</span>
      <span class="dot-sep" aria-hidden="true">·</span>
      <span title="cost">{formatCost(p().cost)}</span>
      <Show when={p().reason && p().reason !== "stop" && p().reason !== "tool-calls"}>
        <span class="dot-sep" aria-hidden="true">·</span>
        <span>{p().reason}</span>
      </Show>
    </div>
  );
}

const SAFE_IMAGE = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$/;

export function FilePart(props: { part: Part }): JSX.Element {
  const p = () => props.part as FilePartT;
  const name = () => p().filename ?? p().url.split("/").pop() ?? "file";
  const isImage = () => p().mime.startsWith("image/") && SAFE_IMAGE.test(p().url);
  const href = () => (/^https?:\/\//i.test(p().url) ? p().url : undefined);
  return (
    <div class="file-part" data-part-type="file">
      <Show when={isImage()}>
        <img class="file-image" src={p().url} alt={name()} loading="lazy" />
      </Show>
      <span class="chip">
        <span aria-hidden="true">📄</span>
        <Show when={href()} fallback={<span class="mono">{name()}</span>}>
          <a href={href()} target="_blank" rel="noopener noreferrer nofollow" class="mono">
            {name()}
          </a>
        </Show>
        <span class="muted">{p().mime}</span>
      </span>
    </div>
  );
}

export function PatchPart(props: { part: Part }): JSX.Element {
  const p = () => props.part as PatchPartT;
  return (
    <div class="patch-part muted" data-part-type="patch">
      <span>
        Changed {p().files.length} file{p().files.length === 1 ? "" : "s"}
      </span>
      <ul class="file-list">
        {/* git quotes names holding quotes or non-ASCII ("caf\303\251.txt"); show the real name. */}
        <For each={p().files.map(unquoteGitPath)}>
          {(f) => (
            <li class="mono" title={f}>
              {shortPath(f)}
            </li>
          )}
        </For>
      </ul>
    </div>
  );
}

export function AgentPart(props: { part: Part }): JSX.Element {
  const p = () => props.part as AgentPartT;
  return (
    <div class="divider" data-part-type="agent" role="note">
      <span>
        Agent switched to <strong>{p().name}</strong>
      </span>
    </div>
  );
}

export function SubtaskPart(props: { part: Part }): JSX.Element {
  const p = () => props.part as SubtaskPartT;
  return (
    <details class="subtask" data-part-type="subtask">
      <summary>
        <span class="badge">subtask</span> <strong>{p().agent}</strong> — {p().description}
      </summary>
      <Markdown text={p().prompt} />
    </details>
  );
}

export function RetryPart(props: { part: Part }): JSX.Element {
  const p = () => props.part as RetryPartT;
  const message = () => {
    const data = p().error.data as Record<string, unknown>;
    return typeof data.message === "string" ? data.message : p().error.name;
  };
  return (
    <div class="retry" data-part-type="retry" role="note">
      <span class="badge warn">retry {p().attempt}</span> <span>{message()}</span>
    </div>
  );
}

export function CompactionPart(props: { part: Part }): JSX.Element {
  const p = () => props.part as CompactionPartT;
  return (
    <div class="divider" data-part-type="compaction" role="note">
      <span>{p().auto ? "Context compacted automatically" : "Context compacted"}</span>
    </div>
  );
}

/** Parts with nothing to show a reader (step markers, snapshot ids). */
export function HiddenPart(): JSX.Element {
  return null;
}

/** Any part we cannot render specifically: its type and its data, collapsed. */
export function UnknownPart(props: { part: Part }): JSX.Element {
  const body = createMemo(() => {
    const { id: _id, messageID: _m, sessionID: _s, ...rest } = props.part;
    return prettyJson(rest);
  });
  return (
    <details class="unknown-part" data-part-type="unknown">
      <summary>
        <span class="badge">{props.part.type}</span> <span class="muted">part</span>
      </summary>
      <OutputBlock label="Data" text={body()} />
    </details>
  );
}
