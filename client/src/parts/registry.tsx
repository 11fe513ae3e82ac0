/**
 * The registry of part renderers: one component per part type. A part whose type is unknown, or
 * whose shape does not match its type's schema, is shown generically — never dropped, never a
 * crash. Add a renderer by adding an entry here.
 */
import { createMemo, Show, type Component, type JSX } from "solid-js";
import { Dynamic } from "solid-js/web";
import { parseKnownPart, type Part } from "../../../shared/parts.ts";
import { ToolPart } from "./ToolPart.tsx";
import {
  AgentPart,
  CompactionPart,
  FilePart,
  HiddenPart,
  PatchPart,
  ReasoningPart,
  RetryPart,
  StepFinishPart,
  SubtaskPart,
  TextPart,
  UnknownPart,
} from "./simple-parts.tsx";

export type PartRenderer = Component<{ part: Part }>;

export const PART_RENDERERS: Record<string, PartRenderer> = {
  text: TextPart,
  reasoning: ReasoningPart,
  tool: ToolPart,
  "step-start": HiddenPart,
  "step-finish": StepFinishPart,
  file: FilePart,
  patch: PatchPart,
  agent: AgentPart,
  subtask: SubtaskPart,
  retry: RetryPart,
  compaction: CompactionPart,
  snapshot: HiddenPart,
};

/**
 * Whether a part renders to nothing (so layouts can skip its wrapper): step markers, snapshots,
 * and text OpenCode adds for the model's eyes only (`synthetic`, e.g. file contents it read for a
 * prompt) or marked `ignored`.
 */
export const isHiddenPart = (part: Part): boolean =>
  PART_RENDERERS[part.type] === HiddenPart || (part.type === "text" && (part.synthetic === true || part.ignored === true));

export function PartView(props: { part: Part }): JSX.Element {
  // Only the validity is memoized: renderers read the live store object, so a streaming text
  // delta updates the text node alone rather than a fresh copy of the part.
  const renderer = createMemo(() => {
    const known = PART_RENDERERS[props.part.type];
    if (!known) return UnknownPart;
    return parseKnownPart(props.part) ? known : UnknownPart;
  });
  return (
    <Show when={renderer()}>
      {(r) => <Dynamic component={r()} part={props.part} />}
    </Show>
  );
}
