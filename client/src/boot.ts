/**
 * Runs before the rest of the app (main.tsx imports it first): a session page's room socket
 * opens now, while the app's own script is still starting (lib/early-socket.ts).
 */
import { openEarlySocket } from "./lib/early-socket.ts";

openEarlySocket();
