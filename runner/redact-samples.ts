/**
 * A sample secret for every scanner of the preset, made up (random-looking, of each format's
 * shape), for the redaction tests and the scripted `.env` run. None of them opens anything.
 */
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const HEX = "0123456789abcdef";

/** Deterministic characters from `set` (a linear congruential generator seeded by `seed`). */
export function chars(n: number, set = ALNUM, seed = 7): string {
  let x = seed >>> 0;
  let out = "";
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    out += set[(x >>> 8) % set.length];
  }
  return out;
}

const pemBody = (seed: number): string => {
  const b64 = "MII" + chars(1_200, ALNUM + "+/", seed);
  return b64.match(/.{1,64}/g)!.join("\n");
};

export const SAMPLE_AWS_ACCESS_KEY = `AKIA${chars(16, UPPER, 11)}`;
export const SAMPLE_AWS_SECRET = chars(40, ALNUM + "/+", 12);
export const SAMPLE_GITHUB_TOKEN = `ghp_${chars(36, ALNUM, 13)}`;
export const SAMPLE_PRIVATE_KEY = `-----BEGIN RSA PRIVATE KEY-----\n${pemBody(14)}\n-----END RSA PRIVATE KEY-----`;

/** One text per preset rule id (short name), each holding one secret that rule finds, and that secret. */
export const RULE_SAMPLES: Record<string, { text: string; secret: string }> = {
  aws: { text: `AWS_SECRET_ACCESS_KEY=${SAMPLE_AWS_SECRET}\nAWS_ACCESS_KEY_ID=${SAMPLE_AWS_ACCESS_KEY}`, secret: SAMPLE_AWS_SECRET },
  gcp: {
    text: JSON.stringify({ type: "service_account", project_id: "demo", private_key_id: chars(40, HEX, 15), private_key: `-----BEGIN PRIVATE KEY-----\n${pemBody(16)}\n-----END PRIVATE KEY-----\n` }),
    secret: chars(40, HEX, 15),
  },
  privatekey: { text: `key:\n${SAMPLE_PRIVATE_KEY}\n`, secret: SAMPLE_PRIVATE_KEY },
  npm: { text: `token npm_${chars(36, ALNUM, 17)} in use`, secret: `npm_${chars(36, ALNUM, 17)}` },
  basicauth: { text: `curl https://deploy:${chars(14, ALNUM, 18)}@example.com/x`, secret: chars(14, ALNUM, 18) },
  slack: { text: `SLACK=xoxb-${chars(11, "0123456789", 19)}-${chars(24, ALNUM, 20)}`, secret: `xoxb-${chars(11, "0123456789", 19)}-${chars(24, ALNUM, 20)}` },
  sendgrid: { text: `SG.${chars(22, ALNUM, 21)}.${chars(43, ALNUM, 22)}`, secret: `SG.${chars(22, ALNUM, 21)}.${chars(43, ALNUM, 22)}` },
  shopify: { text: `shpat_${chars(32, HEX, 23)}`, secret: `shpat_${chars(32, HEX, 23)}` },
  github: { text: `GITHUB_TOKEN=${SAMPLE_GITHUB_TOKEN}`, secret: SAMPLE_GITHUB_TOKEN },
  gitlab: { text: `glpat-${chars(20, ALNUM, 24)}`, secret: `glpat-${chars(20, ALNUM, 24)}` },
  grafana: { text: `glsa_${chars(32, ALNUM, 25)}_${chars(8, HEX, 26)}`, secret: `glsa_${chars(32, ALNUM, 25)}_${chars(8, HEX, 26)}` },
  openai: { text: `sk-${chars(20, ALNUM, 27)}T3BlbkFJ${chars(20, ALNUM, 28)}`, secret: `sk-${chars(20, ALNUM, 27)}T3BlbkFJ${chars(20, ALNUM, 28)}` },
  anthropic: { text: `sk-ant-api03-${chars(93, ALNUM, 29)}AA`, secret: `sk-ant-api03-${chars(93, ALNUM, 29)}AA` },
  groq: { text: `gsk_${chars(52, ALNUM, 30)}`, secret: `gsk_${chars(52, ALNUM, 30)}` },
  huggingface: { text: `hf_${chars(34, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 31)}`, secret: `hf_${chars(34, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 31)}` },
  linear: { text: `lin_api_${chars(40, ALNUM, 32)}`, secret: `lin_api_${chars(40, ALNUM, 32)}` },
  notion: { text: `ntn_${chars(11, "0123456789", 33)}${chars(35, ALNUM, 34)}`, secret: `ntn_${chars(11, "0123456789", 33)}${chars(35, ALNUM, 34)}` },
  "1password": {
    text: `ops_${Buffer.from(JSON.stringify({ email: "a@b.lcl", secretKey: chars(40, UPPER, 35), srpX: chars(64, HEX, 36) })).toString("base64").replace(/=+$/, "")}`,
    secret: "ops_ey",
  },
  "database-connection-string": { text: `postgres://app:${chars(16, ALNUM, 37)}@db.internal:5432/app`, secret: chars(16, ALNUM, 37) },
  "hashicorp-vault": { text: `hvs.${chars(95, ALNUM, 38)}`, secret: `hvs.${chars(95, ALNUM, 38)}` },
  vercel: { text: `vcp_${chars(40, ALNUM, 39)}`, secret: `vcp_${chars(40, ALNUM, 39)}` },
  databricks: { text: `dapi${chars(32, HEX, 40)}`, secret: `dapi${chars(32, HEX, 40)}` },
  docker: { text: `dckr_pat_${chars(27, ALNUM, 41)}`, secret: `dckr_pat_${chars(27, ALNUM, 41)}` },
  figma: { text: `figd_${chars(44, ALNUM, 42)}`, secret: `figd_${chars(44, ALNUM, 42)}` },
};
