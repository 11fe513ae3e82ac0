/**
 * Light / dark / system theme: `data-theme` on <html>. The app remembers a person's choice; an
 * embed takes `theme=` from its fragment (set by the `<agent-room theme>` attribute).
 */
import { createSignal } from "solid-js";

export type ThemeChoice = "light" | "dark" | "auto";
const KEY = "agentroom.theme";

function saved(): ThemeChoice {
  try {
    const v = localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : "auto";
  } catch {
    return "auto";
  }
}

const [theme, setThemeSignal] = createSignal<ThemeChoice>("auto");
export { theme };

export function applyTheme(choice: ThemeChoice, persist = false): void {
  setThemeSignal(choice);
  if (choice === "auto") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", choice);
  if (persist) {
    try {
      localStorage.setItem(KEY, choice);
    } catch {
      /* storage blocked: the choice lasts for this page */
    }
  }
}

export function initTheme(fromFragment?: string | null): void {
  const f = fromFragment === "light" || fromFragment === "dark" || fromFragment === "auto" ? fromFragment : null;
  applyTheme(f ?? saved());
}

export function cycleTheme(): void {
  const next: Record<ThemeChoice, ThemeChoice> = { auto: "light", light: "dark", dark: "auto" };
  applyTheme(next[theme()], true);
}
