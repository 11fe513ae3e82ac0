/** A speech bubble drawn inline (emoji fonts are missing on many Linux desktops and headless browsers). */
import type { JSX } from "solid-js";

export function ChatIcon(): JSX.Element {
  return (
    <svg class="chat-icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true">
      <path d="M2 3.5A1.5 1.5 0 0 1 3.5 2h9A1.5 1.5 0 0 1 14 3.5v6a1.5 1.5 0 0 1-1.5 1.5H7l-3 3v-3h-.5A1.5 1.5 0 0 1 2 9.5z" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round" />
    </svg>
  );
}
