// Verifies a CaseTrail hash chain without any CaseTrail code: proof that another language can.
// Usage: node verify_chain.mjs hash_chain.json   (exit 0 and "N events verified", or exit 1)
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

// Canonical JSON: object keys sorted, no whitespace, strings escaped as JSON.stringify does
// (the same as RFC 8785 for the integers, strings, booleans and nulls an envelope holds).
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

const vectors = JSON.parse(readFileSync(process.argv[2], "utf8"));
let previous = "0".repeat(64);
for (const [index, { event }] of vectors.entries()) {
  const { hash, ...rest } = event;
  const computed = createHash("sha256").update(canonical(rest), "utf8").digest("hex");
  if (computed !== hash || event.prev_hash !== previous) {
    console.log(`event ${index} (version ${event.version}) does not verify`);
    process.exit(1);
  }
  previous = hash;
}
console.log(`${vectors.length} events verified`);
