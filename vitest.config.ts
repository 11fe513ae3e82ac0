/**
 * All tests, one command. Projects:
 *  - workers:     party/**\/*.test.ts inside workerd (see party/vitest.config.ts)
 *  - unit:        pure logic beside its code in shared/ and runner/
 *  - components:  client/**\/*.test.tsx in jsdom with Solid's compiler
 *  - integration: test/**\/*.test.ts against real workerd, the runner, OpenCode and Chromium;
 *                 files run one at a time (each starts its own stack on free ports)
 *  - conformance: the Durable Streams suite's read groups against party/stream/read.ts
 *                 (test/conformance/: a test-only Worker on workerd)
 */
import { configDefaults, defineConfig } from "vitest/config";
import solid from "vite-plugin-solid";
import { conformanceGroups } from "./test/conformance/groups.ts";

export default defineConfig({
  test: {
    projects: [
      "party/vitest.config.ts",
      {
        test: {
          name: "unit",
          environment: "node",
          include: ["shared/**/*.test.ts", "runner/**/*.test.ts", "cli/**/*.test.ts", "bench/**/*.test.ts", "scripts/**/*.test.ts"],
        },
      },
      {
        plugins: [solid()],
        resolve: { conditions: ["development", "browser"] },
        test: {
          name: "components",
          environment: "jsdom",
          include: ["client/**/*.test.tsx", "client/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          environment: "node",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, "test/conformance/**"],
          // The app is built once for every file (the Worker serves it to the browser tests).
          // After the last file, no token may be at rest (test/harness/token-at-rest.ts).
          globalSetup: ["test/harness/build-app.ts", "test/harness/token-at-rest.ts"],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        plugins: [conformanceGroups()],
        test: {
          name: "conformance",
          environment: "node",
          include: ["test/conformance/*.test.ts"],
          // Inlined, so the suite's `vitest` import goes through conformanceGroups().
          server: { deps: { inline: ["@durable-streams/server-conformance-tests"] } },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
