/**
 * What counts as a secret: secretlint's recommended preset (@secretlint/secretlint-rule-preset-recommend,
 * about 25 maintained scanners: AWS, GitHub, GitLab, private keys, Slack, npm, OpenAI, Anthropic,
 * database URLs...) plus the values of the runner's own environment variables that look secret.
 *
 * The preset's rules are driven here through secretlint's public rule interface
 * (`create(context, options).file(source)`) rather than `@secretlint/core`'s `lintSource`: that
 * one is a Promise per call and sets every rule up again each time, while the runner scans every
 * token synchronously on its send path. redact-rules.test.ts checks that both find the same.
 */
import { rules as presetRules } from "@secretlint/secretlint-rule-preset-recommend";
import type { SecretLintRuleContext, SecretLintRuleReportHandler, SecretLintSourceCode } from "@secretlint/types";

/** One secret found in a text: `[start, end)` in UTF-16 units and the rule's human name. */
export interface Finding {
  start: number;
  end: number;
  rule: string;
}

/** Human names for the preset's message ids: what the marker `[redacted: <name>]` says. */
const NAMES: Record<string, string> = {
  AWSSecretAccessKey: "AWS secret access key",
  AWSAccessKeyID: "AWS access key",
  PrivateKeyJSON: "GCP service account key",
  PrivateKeyP12: "GCP service account key",
  PrivateKey: "private key",
  PackageJSON_xOauthToken: "GitHub token",
  Npmrc_authToken: "npm token",
  NPM_ACCESS_TOKEN: "npm token",
  BasicAuth: "password in URL",
  SLACK_TOKEN: "Slack token",
  IncomingWebhook: "Slack webhook",
  SENDGRID_KEY: "SendGrid key",
  SHOPIFY_KEY: "Shopify key",
  GITHUB_TOKEN: "GitHub token",
  GITLAB_PERSONAL_ACCESS_TOKEN: "GitLab token",
  GRAFANA_CLOUD_API_TOKEN: "Grafana token",
  GRAFANA_SERVICE_ACCOUNT_TOKEN: "Grafana token",
  OPENAI_TOKEN: "OpenAI key",
  ANTHROPIC_API_KEY: "Anthropic key",
  GROQ_API_KEY: "Groq key",
  HUGGINGFACE_USER_ACCESS_TOKEN: "Hugging Face token",
  LINEAR_API_TOKEN: "Linear token",
  NOTION_INTEGRATION_TOKEN: "Notion token",
  OPS_TOKEN: "1Password token",
  MongoDBConnection: "database password",
  MySQLConnection: "database password",
  PostgreSQLConnection: "database password",
  HASHICORP_VAULT_SERVICE_TOKEN: "Vault token",
  HASHICORP_VAULT_BATCH_TOKEN: "Vault token",
  HASHICORP_VAULT_RECOVERY_TOKEN: "Vault token",
  VERCEL_PERSONAL_ACCESS_TOKEN: "Vercel token",
  VERCEL_INTEGRATION_TOKEN: "Vercel token",
  VERCEL_APP_ACCESS_TOKEN: "Vercel token",
  VERCEL_APP_REFRESH_TOKEN: "Vercel token",
  VERCEL_AI_GATEWAY_API_KEY: "Vercel key",
  DATABRICKS_PERSONAL_ACCESS_TOKEN: "Databricks token",
  DOCKER_PERSONAL_ACCESS_TOKEN: "Docker token",
  FIGMA_PERSONAL_ACCESS_TOKEN: "Figma token",
};

/** The marker's name for a runner environment variable's value. */
export const ENV_RULE = "environment secret";

/** Rule ids of the preset this module does not run, and why. */
const SKIPPED = new Set([
  // A filter, not a scanner: it honours `secretlint-disable` comments, which an agent could write.
  "@secretlint/secretlint-rule-filter-comments",
]);

/** Options per rule id: the AWS rule looks for access key ids (AKIA...) only when asked. */
const RULE_OPTIONS: Record<string, Record<string, unknown>> = {
  "@secretlint/secretlint-rule-aws": { enableIDScanRule: true },
};

/** Messages dropped: an AWS account id names an account, it opens nothing. */
const NOT_SECRET = new Set(["AWSAccountID"]);

export const nameOf = (messageId: string, ruleId: string): string =>
  NAMES[messageId] ?? ruleId.replace(/^@secretlint\/secretlint-rule-/, "").replace(/-/g, " ");

/**
 * Text none of the preset's scanners can match lacks all of these (each scanner's fixed prefix,
 * `://` for passwords in URLs and database strings, `secret` for AWS secret keys): such text
 * skips the 24 scans. A preset update with a new scanner fails redact.test.ts ("a sample for
 * every scanner") until it has a sample, and its sample fails until its prefix is here.
 */
const MAY_MATCH = /AKIA|A3T|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA|gh[pousr]_|github_pat_|glpat-|glc_|glsa_|npm_|_authToken|xox|xapp-|SG\.|shp|sk-|gsk_|hf_|lin_api_|ntn_|ops_|hv[sbr]\.|vc[piark]_|dapi|dckr_pat_|figd_|-----BEGIN|:\/\/|secret/i;

/** The preset's rules, set up once, each reporting into `sink` while `scan` runs. */
export class PresetScanner {
  private readonly handlers: { id: string; file: NonNullable<SecretLintRuleReportHandler["file"]> }[] = [];
  private sink: Finding[] = [];
  private currentRule = "";
  private content = "";

  constructor() {
    for (const rule of presetRules) {
      const id = rule.meta.id;
      if (SKIPPED.has(id)) continue;
      const context: SecretLintRuleContext = {
        sharedOptions: {},
        // The message text (which quotes the secret) is never built: only its id names the marker.
        createTranslator: (() => (messageId: string, data?: Record<string, unknown>) => ({ message: "", messageId, data })) as never,
        report: (d) => {
          const messageId = d.message.messageId;
          if (NOT_SECRET.has(messageId)) return;
          const [start, end] = this.exact(d.range, d.message.data);
          this.sink.push({ start, end, rule: nameOf(messageId, this.currentRule) });
        },
        ignore: () => {},
      };
      const handler = rule.create(context, (RULE_OPTIONS[id] ?? {}) as never);
      if (handler.file) this.handlers.push({ id, file: handler.file.bind(handler) });
    }
  }

  /**
   * The AWS secret key rule reports the key name's start with the value's length (the value is a
   * capture group): where the reported string is not the range's text, its own place is taken.
   */
  private exact(range: readonly [number, number], data: unknown): [number, number] {
    const [start, end] = range;
    const text = this.content;
    for (const v of Object.values((data ?? {}) as Record<string, unknown>)) {
      if (typeof v !== "string" || v.length < 8 || text.slice(start, end) === v) continue;
      const at = text.indexOf(v, start);
      if (at >= 0 && at - start < 256) return [at, at + v.length];
    }
    return [start, end];
  }

  get ruleIds(): string[] {
    return this.handlers.map((h) => h.id);
  }

  scan(text: string): Finding[] {
    if (!MAY_MATCH.test(text)) return [];
    // A JSON text may be a GCP service account key; the rule reads only sources it thinks are JSON.
    const ext = text.trimStart().startsWith("{") ? ".json" : "";
    const source = { content: text, ext, contentType: "text" } as SecretLintSourceCode;
    const out: Finding[] = [];
    this.sink = out;
    this.content = text;
    for (const h of this.handlers) {
      this.currentRule = h.id;
      // Every text scanner of the preset is synchronous; only the p12 branch (binary files) is not.
      void h.file(source);
    }
    return out;
  }
}

/** Names that mark an environment variable as secret. */
const SECRET_ENV_NAME = /KEY|TOKEN|SECRET|PASSWORD/i;
/** Shorter values are too likely to occur in ordinary text. */
export const MIN_ENV_SECRET_CHARS = 8;

/** The values of `env` whose names look secret, longest first (a longer value wins an overlap). */
export function envSecrets(env: NodeJS.ProcessEnv = process.env): string[] {
  const out = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (!value || value.length < MIN_ENV_SECRET_CHARS || !SECRET_ENV_NAME.test(name)) continue;
    out.add(value);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/** Every occurrence of each value in `text`. */
export function scanValues(text: string, values: readonly string[], rule = ENV_RULE): Finding[] {
  const out: Finding[] = [];
  for (const v of values) {
    for (let i = text.indexOf(v); i >= 0; i = text.indexOf(v, i + v.length)) out.push({ start: i, end: i + v.length, rule });
  }
  return out;
}

/** Findings merged where they overlap (the earlier-starting one names the merged range). */
export function mergeFindings(found: Finding[]): Finding[] {
  const sorted = [...found].sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Finding[] = [];
  for (const f of sorted) {
    const last = out[out.length - 1];
    if (last && f.start < last.end) last.end = Math.max(last.end, f.end);
    else out.push({ ...f });
  }
  return out;
}
