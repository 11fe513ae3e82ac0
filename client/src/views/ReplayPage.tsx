/** `/s/:id/replay[?at=<seq>]#token=…`: the replay of a session (views/ReplayScreen.tsx). */
import type { JSX } from "solid-js";
import { sessionToken } from "../lib/auth.ts";
import { ReplayScreen } from "./ReplayScreen.tsx";

/** `?at=<seq>` opens the replay paused at that event. */
export function momentOf(search: string): number | undefined {
  const at = new URLSearchParams(search).get("at");
  return at !== null && /^\d{1,12}$/.test(at) ? Number(at) : undefined;
}

export function ReplayPage(props: { id: string }): JSX.Element {
  return <ReplayScreen sessionId={props.id} token={sessionToken(props.id) ?? ""} at={momentOf(location.search)} />;
}
