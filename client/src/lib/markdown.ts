/**
 * Markdown → safe HTML. Agent output and prompts are untrusted: marked turns them into HTML (raw
 * HTML in the text stays text), DOMPurify removes anything that could run (script, event handlers, javascript: URLs, forms,
 * iframes), and highlight.js colours fenced code. Links open in a new tab with no opener.
 *
 * highlight.js is loaded on demand, the first time code is rendered: with its common languages
 * it was a third of the app's script (164 KB of 514 KB minified), paid on every first load,
 * embeds included, and by sessions that never show code. Code renders plain until it arrives;
 * the highlighter is a signal read inside the code renderer, so exactly the blocks that hold code
 * render again, coloured.
 */
import { Lexer, Marked, type Links, type Token, type TokensList } from "marked";
import DOMPurify from "dompurify";
import { createSignal } from "solid-js";
import type { HLJSApi } from "highlight.js";

const [highlighter, setHighlighter] = createSignal<HLJSApi>();
let loading: Promise<HLJSApi> | undefined;

/** Starts loading highlight.js once; resolves when code renders coloured. */
export function loadHighlighter(): Promise<HLJSApi> {
  loading ??= import("highlight.js/lib/common").then((m) => {
    setHighlighter(() => m.default);
    return m.default;
  });
  return loading;
}

let soon = false;
/**
 * Loads highlight.js once the frame being built is on screen: loading it at once let its
 * evaluation and the code blocks' second render land before the first frame of a transcript
 * (seen as +140 ms to a 5k session's first paint).
 */
function loadHighlighterSoon(): void {
  if (soon || highlighter()) return;
  soon = true;
  if (typeof requestAnimationFrame === "function") requestAnimationFrame(() => setTimeout(() => void loadHighlighter()));
  else void loadHighlighter();
}

/** Coloured HTML for `text` in `language` once highlight.js is here; escaped text until then. */
function highlighted(text: string, language: string | undefined): string {
  const hljs = highlighter();
  if (!hljs) {
    loadHighlighterSoon();
    return escapeHtml(text);
  }
  return language && hljs.getLanguage(language) ? hljs.highlight(text, { language, ignoreIllegals: true }).value : escapeHtml(text);
}

const marked = new Marked({ gfm: true, breaks: false, async: false });

marked.use({
  renderer: {
    // Raw HTML is shown as the text it is, as chat apps do. Agent output and chat messages mention
    // HTML far more often than they mean it, and any element with an event handler reaching a DOM
    // parser (DOMPurify's inert document included) makes Chromium report a CSP violation
    // ("Executing inline event handler…", Chromium 156) before DOMPurify can remove it.
    html({ text }) {
      return escapeHtml(text);
    },
    code({ text, lang }) {
      const language = (lang ?? "").trim().split(/\s+/)[0] ?? "";
      const html = highlighted(text, language || undefined);
      const label = language ? `<span class="code-lang">${escapeHtml(language)}</span>` : "";
      // A copy control; Markdown.tsx handles its clicks by delegation (no inline handlers survive
      // sanitising, and none are needed).
      const copy = `<span class="code-copy" role="button" tabindex="0" aria-label="Copy code">Copy</span>`;
      return `<pre class="code">${label}${copy}<code class="hljs${language ? ` language-${escapeHtml(language)}` : ""}">${html}</code></pre>`;
    },
  },
});

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const PURIFY_CONFIG = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "object", "embed", "link", "meta", "base"],
  FORBID_ATTR: ["style", "srcset", "formaction"],
  // http(s), mailto and in-page anchors only: no javascript:, data:, vbscript: links.
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#|\/(?!\/))/i,
};

let configured = false;
/**
 * The sanitizer, configured once: passing the config to every `sanitize` call made DOMPurify
 * re-parse it per call (visible in streaming profiles).
 */
function purifier(): typeof DOMPurify {
  if (!configured) {
    configured = true;
    DOMPurify.setConfig(PURIFY_CONFIG);
    DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    });
  }
  return DOMPurify;
}

/** Untrusted Markdown to sanitized HTML, safe to assign to innerHTML. */
export function renderMarkdown(src: string): string {
  const raw = marked.parse(src) as string;
  return purifier().sanitize(raw) as string;
}

/**
 * The top-level tokens of `src`, as `renderMarkdown` would parse them (lib/markdown-blocks.ts).
 * `links` are definitions made earlier in the text, for lexing only its tail.
 */
export function lexMarkdown(src: string, links?: Links): TokensList {
  const lexer = new Lexer(marked.defaults);
  if (links) Object.assign(lexer.tokens.links, links);
  return lexer.lex(src);
}

/** Some of `lexMarkdown`'s tokens to sanitized HTML (one streaming block). */
export function renderTokens(tokens: Token[]): string {
  return purifier().sanitize(marked.parser(tokens) as string) as string;
}

/** Highlighted code as sanitized HTML (for tool inputs/outputs with a known language). */
export function highlightCode(code: string, language?: string): string {
  return purifier().sanitize(highlighted(code, language)) as string;
}
