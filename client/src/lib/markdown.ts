/**
 * Markdown → safe HTML. Agent output and prompts are untrusted: marked turns them into HTML,
 * DOMPurify removes anything that could run (script, event handlers, javascript: URLs, forms,
 * iframes), and highlight.js colours fenced code. Links open in a new tab with no opener.
 */
import { Marked } from "marked";
import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/common";

const marked = new Marked({ gfm: true, breaks: false, async: false });

marked.use({
  renderer: {
    code({ text, lang }) {
      const language = (lang ?? "").trim().split(/\s+/)[0] ?? "";
      const html = language && hljs.getLanguage(language)
        ? hljs.highlight(text, { language, ignoreIllegals: true }).value
        : escapeHtml(text);
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

/** Highlighted code as sanitized HTML (for tool inputs/outputs with a known language). */
export function highlightCode(code: string, language?: string): string {
  const html = language && hljs.getLanguage(language)
    ? hljs.highlight(code, { language, ignoreIllegals: true }).value
    : escapeHtml(code);
  return purifier().sanitize(html) as string;
}

/** A language name for highlight.js from a file path. */
export function languageOf(path: string | undefined): string | undefined {
  if (!path) return undefined;
  const ext = path.split(".").pop()?.toLowerCase() ?? "";
  const map: Record<string, string> = {
    ts: "typescript", tsx: "typescript", js: "javascript", jsx: "javascript", mjs: "javascript", cjs: "javascript",
    py: "python", rs: "rust", go: "go", rb: "ruby", java: "java", c: "c", h: "c", cc: "cpp", cpp: "cpp",
    cs: "csharp", sh: "bash", bash: "bash", zsh: "bash", json: "json", md: "markdown", yml: "yaml", yaml: "yaml",
    toml: "ini", ini: "ini", html: "xml", xml: "xml", svg: "xml", css: "css", scss: "scss", sql: "sql",
    kt: "kotlin", swift: "swift", php: "php", diff: "diff",
  };
  const lang = map[ext];
  return lang && hljs.getLanguage(lang) ? lang : undefined;
}
