/**
 * Builds the SolidJS app (client/index.html) into dist/client, which the Worker serves as static
 * assets (wrangler.jsonc `assets`), and emits the framework-free `<agent-room>` loader at a stable
 * path, /embed.js, so other sites can include it without knowing our asset hashes.
 *
 * `vite dev` proxies the Worker's routes to a running `wrangler dev` (AGENTROOM_WORKER, default
 * http://127.0.0.1:8787), so the app can be worked on with hot reload against the real rooms.
 */
import { defineConfig } from "vite";
import solid from "vite-plugin-solid";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("./client", import.meta.url));
const worker = process.env.AGENTROOM_WORKER ?? "http://127.0.0.1:8787";

export default defineConfig({
  root,
  plugins: [solid()],
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL("./dist/client", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true, minify: process.env.NOMINIFY ? false : undefined,
    rollupOptions: {
      input: {
        app: fileURLToPath(new URL("./client/index.html", import.meta.url)),
        embed: fileURLToPath(new URL("./client/embed/embed.ts", import.meta.url)),
      },
      output: {
        // embed.js must keep its name: other sites reference it by URL.
        entryFileNames: (chunk) => (chunk.name === "embed" ? "embed.js" : "assets/[name]-[hash].js"),
      },
    },
  },
  server: {
    proxy: {
      "/api": worker,
      "/health": worker,
      "/parties": { target: worker, ws: true },
    },
  },
});
