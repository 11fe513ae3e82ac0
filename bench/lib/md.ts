/** A Markdown table under a `###` title, with optional lines after it; nothing when it has no rows. */
export function table(title: string, head: string[], rows: string[][], foot: string[] = []): string[] {
  if (!rows.length) return [];
  return [`### ${title}`, "", `| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((c) => `| ${c.join(" | ")} |`), "", ...foot];
}
