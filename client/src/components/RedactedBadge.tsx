/**
 * "3 secrets hidden from viewers": how many distinct secrets the runner replaced with
 * `[redacted: <rule>]` markers before they left its machine (runner/redact.ts), per rule on hover.
 */
import { Show } from "solid-js";
import type { Redacted } from "../../../shared/protocol.ts";

export function redactedLabel(n: number): string {
  return `${n} secret${n === 1 ? "" : "s"} hidden from viewers`;
}

export function RedactedBadge(props: { redacted: Redacted | undefined }) {
  const rules = () =>
    Object.entries(props.redacted?.rules ?? {})
      .map(([rule, n]) => `${rule}: ${n}`)
      .join(", ");
  return (
    <Show when={props.redacted?.count}>
      {(n) => (
        <span class="badge redacted" data-redacted={n()} title={`Replaced by the runner before anything reached this room (${rules()})`}>
          {redactedLabel(n())}
        </span>
      )}
    </Show>
  );
}
