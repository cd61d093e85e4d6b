// Signs and verifies a CaseTrail submission without any CaseTrail code: the recipe of
// docs/signing.md in Node.js (18 or later), checked against signed_submission.json.
// Usage: node sign_submission.mjs signed_submission.json   (exit 0 and "ok", or exit 1)
//        node sign_submission.mjs guomi/signed_submission.json --suite guomi
//   (SM2 with SM3 and the default user id, DER, from the npm package sm-crypto-v2: prints "ok"
//   and, on a second line, a signature of its own over the vector's bytes, for Python to check)
//        node sign_submission.mjs guomi/signed_submission.json --suite guomi --der-cases CASES
//   (also: each encoding of guomi/sm2_der_cases.json, "NAME: accepted" or "NAME: refused", over
//   the vector's signed bytes: only the canonical DER of a signature verifies, sm2_der.mjs)
import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { canonicalSm2Signature } from "./sm2_der.mjs";

// Canonical JSON: keys sorted, no whitespace, strings and integers as JSON.stringify writes
// them (RFC 8785 for what a submission holds: ASCII keys, integers, strings, booleans, null).
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isInteger(value)) throw new Error("integers only");
  return JSON.stringify(value);
}

// What the signature covers: the whole document, "signature" included, without its "value".
function signedBytes(document) {
  const { value, ...claim } = document.signature;
  return Buffer.from(canonical({ ...document, signature: claim }), "utf8");
}

function signSubmission(document, privateKey, keyId, department) {
  const { signature, ...rest } = document;
  const claimed = { ...rest, signature: { key_id: keyId, department } };
  const value = sign(null, signedBytes(claimed), privateKey).toString("base64");
  return { ...rest, signature: { key_id: keyId, department, value } };
}

const v = JSON.parse(readFileSync(process.argv[2], "utf8"));
const fail = (what) => {
  console.log(`not ok: ${what}`);
  process.exit(1);
};
if (process.argv[3] === "--suite" && process.argv[4] === "guomi") {
  await guomi();
  process.exit(0);
}

// SM2 signatures are randomised: the vector's own verifies, and one made here does too.
async function guomi() {
  const { sm2, sm3 } = await import("sm-crypto-v2");
  const options = { der: true, hash: true, userId: v.user_id };
  const hex = (base64) => Buffer.from(base64, "base64").toString("hex");
  const bytes = (document) => new Uint8Array(signedBytes(document));
  // sm-crypto-v2 tolerates other encodings than DER's one: they are refused before it sees them.
  const verifies = (data, signatureHex) => {
    if (!canonicalSm2Signature(Buffer.from(signatureHex, "hex"))) return false;
    try {
      return sm2.doVerifySignature(data, signatureHex, v.public_key_hex, options);
    } catch {
      return false;
    }
  };
  const publicRaw = new Uint8Array(Buffer.from(v.public_key_hex, "hex"));
  if (sm3(publicRaw).slice(0, 16) !== v.key_id) fail("the key id is not the SM3 of the key");
  if (sm2.getPublicKeyFromPrivateKey(v.private_key_hex) !== v.public_key_hex) {
    fail("the private key is not the public key's");
  }
  if (Buffer.from(bytes(v.signed_document)).toString("utf8") !== v.signed_bytes) {
    fail("canonical bytes differ");
  }
  const sent = JSON.parse(v.sent);
  if (!verifies(bytes(sent), hex(sent.signature.value))) {
    fail("the sent document does not verify");
  }
  const claimed = { ...v.document, signature: { key_id: v.key_id, department: v.department } };
  const mine = sm2.doSignature(bytes(claimed), v.private_key_hex, options);
  if (!verifies(bytes(claimed), mine)) {
    fail("a signature made here does not verify");
  }
  sent.payload.persons = 3;
  if (verifies(bytes(sent), hex(v.signature))) {
    fail("a changed document still verifies");
  }
  console.log("ok");
  console.log(Buffer.from(mine, "hex").toString("base64"));
  if (process.argv[5] === "--der-cases") {
    for (const { name, signature } of JSON.parse(readFileSync(process.argv[6], "utf8"))) {
      const accepted = verifies(bytes(v.signed_document), hex(signature));
      console.log(`${name}: ${accepted ? "accepted" : "refused"}`);
    }
  }
}
const publicRaw = Buffer.from(v.public_key_base64, "base64");
const privateKey = createPrivateKey({
  key: {
    kty: "OKP",
    crv: "Ed25519",
    d: Buffer.from(v.private_key_seed_hex, "hex").toString("base64url"),
    x: publicRaw.toString("base64url"),
  },
  format: "jwk",
});
const publicKey = createPublicKey(v.public_key_pem);

// 1. Signing the document gives the very bytes and signature of the vector.
const signed = signSubmission(v.document, privateKey, v.key_id, v.department);
if (signedBytes(signed).toString("utf8") !== v.signed_bytes) fail("canonical bytes differ");
if (signed.signature.value !== v.signature) fail("signature differs");
// 2. The document as sent (another layout) verifies: the decider's check, in JavaScript.
const sent = JSON.parse(v.sent);
const ok = verify(null, signedBytes(sent), publicKey, Buffer.from(sent.signature.value, "base64"));
if (!ok) fail("the sent document does not verify");
// 3. Any change breaks it.
sent.payload.persons = 3;
if (verify(null, signedBytes(sent), publicKey, Buffer.from(v.signature, "base64"))) {
  fail("a changed document still verifies");
}
console.log("ok");
