/** `/s/:id#token=…`: the full session view. */
import { Show, createEffect, type JSX } from "solid-js";
import { forgetSessionToken, sessionToken } from "../lib/auth.ts";
import { Revoked, isRevoked } from "../components/Revoked.tsx";
import { createRoomStore } from "../lib/room-store.ts";
import { RoomScreen } from "./RoomScreen.tsx";
import { tabTitle } from "../components/StatusBar.tsx";
import { unreadChat } from "../lib/chat-seen.ts";

function RoomWithToken(props: { id: string; token: string }): JSX.Element {
  const store = createRoomStore(props.id, props.token);
  createEffect(() => {
    document.title = tabTitle(store.room.session, unreadChat(store.room.session?.chatCount, store.room.chatSeen));
  });
  // Tests and the bench reach the client through this handle (never used by the app itself).
  (window as unknown as { __agentroom?: unknown }).__agentroom = store;
  // A revoked link is forgotten here, so the next visit does not try it again.
  createEffect(() => {
    if (isRevoked(store.room.connection)) forgetSessionToken(props.id, props.token);
  });
  return (
    <Show when={!isRevoked(store.room.connection)} fallback={<Revoked />}>
      <RoomScreen room={store.room} actions={store.actions} partEnv={store.partEnv} sessionId={props.id} token={props.token} />
    </Show>
  );
}

export function SessionPage(props: { id: string }): JSX.Element {
  const token = sessionToken(props.id);
  return (
    <Show
      when={token}
      fallback={
        <div class="list-page">
          <h1>No access</h1>
          <p>This link has no token. Ask the session's owner for a viewer or driver link.</p>
          <p>
            <a href="/">All sessions</a>
          </p>
        </div>
      }
    >
      {(t) => <RoomWithToken id={props.id} token={t()} />}
    </Show>
  );
}
