/**
 * Worker for the naive baseline: every WebSocket under /parties/naive-room/:id goes to a NaiveRoom.
 * No auth: the baseline measures fan-out and storage, and auth would only add the same per-upgrade
 * cost agentroom pays.
 */
import { routePartykitRequest } from "partyserver";
export { NaiveRoom } from "./room.ts";

export default {
  async fetch(request: Request, env: Record<string, unknown>): Promise<Response> {
    // partyserver types env as the project-wide Cloudflare.Env; this Worker has only its own binding.
    return (await routePartykitRequest(request, env as unknown as Cloudflare.Env)) ?? new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Record<string, unknown>>;
