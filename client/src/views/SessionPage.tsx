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
  // Without a token the room was tried as a signed-in person (Cloudflare Access); refused, it is
  // "no access" as before.
  const refusedWithoutToken = () => props.token === "" && store.room.connection.kind === "closed";
  return (
    <Show when={!isRevoked(store.room.connection)} fallback={<Revoked />}>
      <Show when={!refusedWithoutToken()} fallback={<NoAccess />}>
        <RoomScreen room={store.room} actions={store.actions} partEnv={store.partEnv} sessionId={props.id} token={props.token} />
      </Show>
    </Show>
  );
}

function NoAccess(): JSX.Element {
  return (
    <div class="list-page" data-no-access>
      <h1>No access</h1>
      <p>This link has no token. Ask the session's owner for a viewer or driver link.</p>
      <p>
        <a href="/">All sessions</a>
      </p>
    </div>
  );
}

/**
 * The token from the link or kept for the session; with none, the page still tries the room with
 * no token, which works for a person the session is shared with behind Cloudflare Access (the
 * browser's requests carry the Access assertion) and ends in "no access" for anyone else.
 */
export function SessionPage(props: { id: string }): JSX.Element {
  return <RoomWithToken id={props.id} token={sessionToken(props.id) ?? ""} />;
}
