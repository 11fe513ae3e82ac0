/** What a tab shows once the owner revoked the link it was opened with (close 4411 / 401 `revoked`). */
import type { JSX } from "solid-js";

export function Revoked(props: { embed?: boolean }): JSX.Element {
  return (
    <div class={props.embed ? "empty" : "list-page"} role="alert" data-revoked>
      <h1>This link was revoked</h1>
      <p>The session's owner took this link back. Ask them for a new one.</p>
    </div>
  );
}

/** True when the room closed this connection because its link was revoked. */
export const isRevoked = (c: { kind: string; revoked?: boolean }): boolean => c.kind === "closed" && c.revoked === true;
