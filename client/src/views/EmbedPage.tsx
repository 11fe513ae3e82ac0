/**
 * `/embed/:id#token=…&theme=…&max=…`: the chromeless room for `<agent-room>` iframes. Read-only
 * unless the token is a driver's. It uses only the token in its own fragment (client/embed sets
 * it from the element's `token` attribute) and writes nothing to the app's storage. It reports its height to the parent page so the iframe can be
 * sized to the content; the transcript grows up to `max` pixels and then scrolls inside.
 */
import { Show, onCleanup, onMount, type JSX } from "solid-js";
import { embedToken, fragmentParams } from "../lib/auth.ts";
import { createRoomStore } from "../lib/room-store.ts";
import { RoomScreen } from "./RoomScreen.tsx";
import { Revoked, isRevoked } from "../components/Revoked.tsx";
import { ReplayScreen } from "./ReplayScreen.tsx";

function postHeight(sessionId: string): () => void {
  let last = -1;
  const send = () => {
    const h = Math.ceil(document.documentElement.scrollHeight);
    if (h === last || window.parent === window) return;
    last = h;
    // Only a number leaves the frame, so "*" is safe; the element checks where it came from.
    window.parent.postMessage({ type: "agentroom:height", height: h, session: sessionId }, "*");
  };
  const ro = new ResizeObserver(send);
  ro.observe(document.body);
  send();
  return () => ro.disconnect();
}

function EmbedRoom(props: { id: string; token: string }): JSX.Element {
  const store = createRoomStore(props.id, props.token, { persist: false });
  (window as unknown as { __agentroom?: unknown }).__agentroom = store;
  const max = Number(fragmentParams().get("max")) || 640;
  document.documentElement.classList.add("embed-auto");
  onMount(() => onCleanup(postHeight(props.id)));
  return (
    <Show when={!isRevoked(store.room.connection)} fallback={<Revoked embed />}>
      <RoomScreen room={store.room} actions={store.actions} partEnv={store.partEnv} sessionId={props.id} token={props.token} chromeless autoHeight={max} />
    </Show>
  );
}

export function EmbedPage(props: { id: string }): JSX.Element {
  // Only the token this embed was given: with none it shows no access, whoever uses this browser.
  const token = embedToken();
  return (
    <Show
      when={token}
      fallback={
        <p class="empty" data-no-access>
          No access: this embed was given no token.
        </p>
      }
    >
      {(t) => (fragmentParams().get("replay") === "1" ? <ReplayScreen sessionId={props.id} token={t()} embed /> : <EmbedRoom id={props.id} token={t()} />)}
    </Show>
  );
}
