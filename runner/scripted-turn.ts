/**
 * What one request of a provider-shaped scripted endpoint plays (Anthropic Messages, Gemini, …):
 * the canned run's step for this point of the conversation, or the closing text once the run's
 * tools are done. Each endpoint reads its own request shape into a `PlanContext` and a step (the
 * number of assistant turns after the last user message), and writes the actions in its own
 * stream shape.
 */
import { chunkText, closingText, planFor, titleFor, LONG_WORDS, type Action, type Plan, type PlanContext } from "./scripted-model.ts";

export function turnActions(ctx: PlanContext, step: number): { plan: Plan; actions: Action[] } {
  const plan = planFor(ctx);
  const s = plan.steps[step];
  return { plan, actions: s && s.actions.length ? s.actions : [{ kind: "text", text: closingText(ctx.toolResults) }] };
}

/** A request that offers no tools: a title when the system prompt asks for one, else a summary. */
export function toollessAnswer(system: string, prompt: string): Action[] {
  return [{ kind: "text", text: /title/i.test(system) ? titleFor(prompt) : "Summary: a scripted demo conversation." }];
}

/** The long answer ("slow"/"long" prompts) as its streamed pieces. */
export function longPieces(chunks: number): string[] {
  return Array.from({ length: chunks }, (_, i) => (i === 0 ? "Streaming a long answer: " : i % 12 === 11 ? ".\n\n" : " ") + (LONG_WORDS[i % LONG_WORDS.length] ?? "word"));
}

/** A text action's streamed pieces: words, or raw `units`-sized slices (split characters on purpose). */
export function textPieces(text: string, units?: number): string[] {
  return units ? Array.from({ length: Math.ceil(text.length / units) }, (_, i) => text.slice(i * units, (i + 1) * units)) : chunkText(text);
}
