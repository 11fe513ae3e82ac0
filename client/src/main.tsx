/**
 * The app's entry: picks the view from the path. `/` is the session list, `/s/:id` a session,
 * `/s/:id/replay` its replay, `/embed/:id` the chromeless embed (`#replay=1`: the replay). Tokens come from the URL fragment (see lib/auth.ts).
 */
// First, so its socket opens before the other modules are evaluated (see boot.ts).
import "./boot.ts";
import { render } from "solid-js/web";
import { Match, Switch, lazy, type JSX } from "solid-js";
import "./styles.css";
import { initTheme } from "./lib/theme.ts";
import { fragmentParams } from "./lib/auth.ts";
import { SessionList } from "./views/SessionList.tsx";
import { SessionPage } from "./views/SessionPage.tsx";

const ReplayPage = lazy(() => import("./views/ReplayPage.tsx").then((m) => ({ default: m.ReplayPage })));
const EmbedPage = lazy(() => import("./views/EmbedPage.tsx").then((m) => ({ default: m.EmbedPage })));

export type Route = { name: "list" } | { name: "session"; id: string } | { name: "embed"; id: string } | { name: "replay"; id: string } | { name: "missing" };

export function routeOf(pathname: string): Route {
  if (pathname === "/" || pathname === "/index.html") return { name: "list" };
  const replay = /^\/s\/([^/]+)\/replay\/?$/.exec(pathname);
  if (replay) return { name: "replay", id: decodeURIComponent(replay[1]!) };
  const m = /^\/(s|embed)\/([^/]+)\/?$/.exec(pathname);
  if (m) return { name: m[1] === "s" ? "session" : "embed", id: decodeURIComponent(m[2]!) };
  return { name: "missing" };
}

function App(): JSX.Element {
  const route = routeOf(location.pathname);
  initTheme(route.name === "embed" ? fragmentParams().get("theme") : undefined);
  return (
    <Switch>
      <Match when={route.name === "list"}>
        <SessionList />
      </Match>
      <Match when={route.name === "session" && route}>{(r) => <SessionPage id={(r() as { id: string }).id} />}</Match>
      <Match when={route.name === "replay" && route}>{(r) => <ReplayPage id={(r() as { id: string }).id} />}</Match>
      <Match when={route.name === "embed" && route}>{(r) => <EmbedPage id={(r() as { id: string }).id} />}</Match>
      <Match when={route.name === "missing"}>
        <div class="list-page">
          <h1>Not found</h1>
          <p>
            <a href="/">All sessions</a>
          </p>
        </div>
      </Match>
    </Switch>
  );
}

performance.mark("agentroom:app-start");
render(() => <App />, document.getElementById("app")!);
