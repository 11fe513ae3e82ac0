/** `GET /api/agents` (the operator): the agents online runners offer, for the New session form. */
import { Hono } from "hono";
import { json } from "../http.ts";
import { allow, operatorOnly, type AppEnv } from "../middleware.ts";
import { lobby } from "../known-sessions.ts";

export const agents = new Hono<AppEnv>();

agents.all("/", allow("GET"), operatorOnly, async (c) => json(await lobby(c.env).agents()));
