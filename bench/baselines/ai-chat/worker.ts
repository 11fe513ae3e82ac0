/** Worker for the AIChatAgent baseline: `/agents/bench-chat/:name` goes to a BenchChat object. */
import { routeAgentRequest } from "agents";
export { BenchChat } from "./agent.ts";

export default {
  async fetch(request: Request, env: Record<string, unknown>): Promise<Response> {
    return (await routeAgentRequest(request, env)) ?? new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Record<string, unknown>>;
