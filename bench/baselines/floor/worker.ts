/** Worker for the floor (see room.ts): every WebSocket under /floor/:id goes to that FloorRoom. */
export { FloorRoom } from "./room.ts";

type Env = { FloorRoom: DurableObjectNamespace };

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const m = /^\/floor\/([\w-]{1,64})$/.exec(new URL(request.url).pathname);
    if (!m || request.headers.get("Upgrade") !== "websocket") return new Response("not found", { status: 404 });
    return env.FloorRoom.get(env.FloorRoom.idFromName(m[1]!)).fetch(request);
  },
} satisfies ExportedHandler<Env>;
