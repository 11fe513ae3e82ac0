/**
 * The registry of part renderers: one component per part type. A part whose type is unknown, or
 * whose shape does not match its type's schema, is shown generically — never dropped, never a
 * crash. The registry is keyed by the known part types (shared/parts.ts KNOWN_PART_SCHEMAS), so a
 * known type without a renderer, or a renderer for a type nobody defined, does not compile.
 */
import { createMemo, Show, type Component, type JSX } from "solid-js";
import { Dynamic } from "solid-js/web";
import { parseKnownPart, type KnownPartType, type Part } from "../../../shared/parts.ts";
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

export const PART_RENDERERS: { readonly [K in KnownPartType]: PartRenderer } = {
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

/** The renderer of a part type, if the type is known. */
const rendererOf = (type: string): PartRenderer | undefined => (Object.hasOwn(PART_RENDERERS, type) ? PART_RENDERERS[type as KnownPartType] : undefined);

/**
 * Whether a part renders to nothing (so layouts can skip its wrapper): step markers, snapshots,
 * and text OpenCode adds for the model's eyes only (`synthetic`, e.g. file contents it read for a
 * prompt) or marked `ignored`.
 */
export const isHiddenPart = (part: Part): boolean =>
  rendererOf(part.type) === HiddenPart || (part.type === "text" && (part.synthetic === true || part.ignored === true));

export function PartView(props: { part: Part }): JSX.Element {
  // Only the validity is memoized: renderers read the live store object, so a streaming text
  // delta updates the text node alone rather than a fresh copy of the part.
  const renderer = createMemo(() => {
    const known = rendererOf(props.part.type);
    if (!known) return UnknownPart;
    return parseKnownPart(props.part) ? known : UnknownPart;
  });
  return (
    <Show when={renderer()}>
      {(r) => <Dynamic component={r()} part={props.part} />}
    </Show>
  );
}
