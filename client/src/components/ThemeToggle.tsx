import type { JSX } from "solid-js";
import { cycleTheme, theme } from "../lib/theme.ts";

const LABEL = { auto: "Theme: system", light: "Theme: light", dark: "Theme: dark" } as const;
const ICON = { auto: "◐", light: "☀", dark: "☾" } as const;

export function ThemeToggle(): JSX.Element {
  return (
    <button type="button" class="icon-button theme-toggle" onClick={cycleTheme} aria-label={`${LABEL[theme()]} (change)`} title={LABEL[theme()]}>
      {ICON[theme()]}
    </button>
  );
}
