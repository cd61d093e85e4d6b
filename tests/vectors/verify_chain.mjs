// Verifies CaseTrail hash chains without any CaseTrail code: proof that another language can.
// With --keys, also opens the sealed personal values it has keys for (docs/privacy.md); with
// --ring, also checks a partition's chain and its signed checkpoints against a pinned key ring.
//
// With --suite guomi, the log's suite is guomi: SM3 chains, SM2 checkpoints (with SM3 and the
// default user id, DER), SM4-GCM sealed values, from the npm package sm-crypto-v2 (installed by
// 'npm ci' in this folder; the international suite needs nothing but Node.js).
//
// Usage: node verify_chain.mjs EVENTS.json [--keys KEYS.json] [--ring RING.json] [--suite S]
//   EVENTS.json: a list of events (or of {"event": …}), or an object with such a list as "events";
//     each case's events in order (cases may be interleaved). Each case's chain starts at 64 zeros.
//     With --ring: an object with "records" (one partition's events in offset order, each as
//     {"offset": n, "event": {…}}) and "checkpoints" (each {"record": {…}} as on
//     casetrail.checkpoints).
//   KEYS.json: {"<subject>": "<base64 of the subject's 32-byte key>" or null (destroyed)}.
//   RING.json: the key ring ({"keys": [{key_id, purpose, public_key, valid_from, …}]}): only
//     its checkpoint keys vouch for a checkpoint, never a key found in EVENTS.json.
// Exit 0: every event verified (and every sealed value with a key opened); 1: an event or a
// checkpoint does not verify; 2: the chain verified but a sealed value does not open; 3:
// unusable input.
import { createDecipheriv, createHash, createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { canonicalSm2Signature } from "./sm2_der.mjs";

const GENESIS = "0".repeat(64);
const ALG = "A256GCM";
const SM4_ALG = "SM4GCM";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function fail(code, message) {
  console.log(message);
  process.exit(code);
}

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

function readJson(path, what) {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    return fail(3, `cannot read the ${what} ${path}: ${error.message}`);
  }
}

function base64Bytes(text) {
  return typeof text === "string" && BASE64.test(text) ? Buffer.from(text, "base64") : null;
}

// --- Arguments ---------------------------------------------------------------------------
const args = process.argv.slice(2);
function option(name) {
  const at = args.indexOf(name);
  if (at === -1) return null;
  const value = args[at + 1];
  args.splice(at, 2);
  return value;
}
const keysPath = option("--keys");
const ringPath = option("--ring");
const suite = option("--suite") ?? "international";
if (args.length !== 1 || keysPath === undefined || ringPath === undefined) {
  fail(3, "usage: node verify_chain.mjs EVENTS.json [--keys KEYS.json] [--ring RING.json] [--suite S]");
}
if (suite !== "international" && suite !== "guomi") fail(3, `unknown suite ${suite}`);
// The guomi algorithms come from sm-crypto-v2, not from CaseTrail nor from Node's OpenSSL.
const sm = suite === "guomi" ? await import("sm-crypto-v2") : null;

// The suite's hash of the UTF-8 of a text, in lower-case hex.
function hashHex(text) {
  if (sm !== null) return sm.sm3(new Uint8Array(Buffer.from(text, "utf8")));
  return createHash("sha256").update(text, "utf8").digest("hex");
}
function hashBytesHex(bytes) {
  if (sm !== null) return sm.sm3(new Uint8Array(bytes));
  return createHash("sha256").update(bytes).digest("hex");
}

// --- The chains ----------------------------------------------------------------------------
const input = readJson(args[0], "events");
const items = Array.isArray(input) ? input : (input?.events ?? input?.records);
if (!Array.isArray(items)) fail(3, `${args[0]}: no list of events`);
const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const events = items.map((item) => (isObject(item) && "event" in item ? item.event : item));

const heads = new Map(); // case_id -> hash of its last event so far
for (const [index, event] of events.entries()) {
  if (!isObject(event)) fail(1, `event ${index} is no object: it does not verify`);
  const { hash, ...rest } = event;
  const computed = hashHex(canonical(rest));
  const previous = heads.get(event.case_id) ?? GENESIS;
  if (computed !== hash || event.prev_hash !== previous) {
    fail(1, `event ${index} (${event.case_id} version ${event.version}) does not verify`);
  }
  heads.set(event.case_id, hash);
}
console.log(`${events.length} events verified`);
if (ringPath !== null) verifyPartition(input, items, readJson(ringPath, "key ring"));
if (keysPath === null) process.exit(0);

// --- The partition chain and its checkpoints ----------------------------------------------
// head_0 = 64 zeros; head_n = the suite's hash (hex) of the ASCII text head_(n-1) followed by
// the n-th event's hash, over every event of the partition in offset order. A checkpoint signs
// (partition, offset of the last event it covers, count, head, and under guomi "suite") with a
// checkpoint key of the ring: Ed25519 (or SM2 with SM3, DER) over the canonical JSON of its
// record without "signature" (and without fields that are null, which the decider leaves out).
function verifyPartition(partitionFile, records, ringFile) {
  if (!Array.isArray(partitionFile?.checkpoints) || !Array.isArray(ringFile?.keys)) {
    fail(3, "--ring needs a partition (records and checkpoints) and a key ring (keys)");
  }
  const heads = [];
  let head = GENESIS;
  for (const [index, record] of records.entries()) {
    if (!Number.isInteger(record?.offset)) fail(3, `record ${index} has no offset`);
    head = hashHex(`${head}${record.event.hash}`);
    heads.push(head);
  }
  console.log(`partition chain of ${records.length} events: head ${head}`);
  for (const item of partitionFile.checkpoints) {
    const checkpoint = item?.record ?? item;
    const where = `checkpoint p${checkpoint.partition} count ${checkpoint.count}`;
    const key = ringFile.keys.find(
      (k) => k.key_id === checkpoint.key_id && k.purpose === "checkpoint",
    );
    if (key === undefined) fail(1, `${where}: key ${checkpoint.key_id} is not a checkpoint key of the ring`);
    // One suite per log: a checkpoint says its suite (absent: international), and its key is
    // of that suite's algorithm.
    if ((checkpoint.suite ?? "international") !== suite) {
      fail(1, `${where}: made under the suite ${checkpoint.suite ?? "international"}, not ${suite}`);
    }
    const algorithm = key.algorithm ?? "ed25519";
    if (algorithm !== (suite === "guomi" ? "sm2" : "ed25519")) {
      fail(1, `${where}: key ${key.key_id} is an ${algorithm} key, not of the suite ${suite}`);
    }
    const raw = base64Bytes(key.public_key);
    if (raw === null || raw.length !== (sm !== null ? 65 : 32)) {
      fail(3, `key ${key.key_id}: no ${algorithm} public key`);
    }
    if (hashBytesHex(raw).slice(0, 16) !== key.key_id) {
      fail(1, `key ${key.key_id}: the id is not that of its public key`);
    }
    const signedAt = Date.parse(checkpoint.created_at);
    const validUntil = key.valid_until === null ? Infinity : Date.parse(key.valid_until);
    if (!(Date.parse(key.valid_from) <= signedAt && signedAt < validUntil)) {
      fail(1, `${where}: key ${key.key_id} was not valid when it was signed`);
    }
    const { signature, ...fields } = checkpoint;
    for (const [name, value] of Object.entries(fields)) if (value === null) delete fields[name];
    const signatureBytes = base64Bytes(signature) ?? Buffer.alloc(0);
    const message = Buffer.from(canonical(fields), "utf8");
    let valid;
    if (sm !== null) {
      // SM2 with SM3 over Z (the default user id "1234567812345678", GB/T 35276) and the bytes;
      // only the canonical DER of a signature (sm-crypto-v2 tolerates other encodings).
      try {
        const options = { der: true, hash: true };
        valid =
          canonicalSm2Signature(signatureBytes) &&
          sm.sm2.doVerifySignature(new Uint8Array(message), signatureBytes.toString("hex"), raw.toString("hex"), options);
      } catch {
        valid = false;
      }
    } else {
      const publicKey = createPublicKey({
        key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
        format: "jwk",
      });
      valid = verify(null, message, publicKey, signatureBytes);
    }
    if (!valid) {
      fail(1, `${where}: its signature does not verify with key ${key.key_id}`);
    }
    if (!Number.isInteger(checkpoint.count) || checkpoint.count < 1) fail(1, `${where}: no count`);
    if (checkpoint.count > records.length) {
      fail(1, `${where}: covers more events than the partition holds (truncated)`);
    }
    const covered = records[checkpoint.count - 1];
    if (heads[checkpoint.count - 1] !== checkpoint.head || covered.offset !== checkpoint.offset) {
      fail(1, `${where}: the partition's chain does not verify against it`);
    }
    console.log(`${where} at offset ${checkpoint.offset} verified (key ${key.key_id})`);
  }
}

// --- The sealed values -----------------------------------------------------------------------
// A sealed value is an object with exactly the keys alg, subject and ciphertext.
function isSealed(value) {
  if (!isObject(value)) return false;
  const keys = Object.keys(value).sort();
  return keys.length === 3 && keys.join() === "alg,ciphertext,subject";
}

// JSON Pointer (RFC 6901): "~" as "~0", "/" as "~1".
const pointerText = (path) =>
  path.map((part) => `/${String(part).replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");

function* sealedValues(value, path = []) {
  if (isSealed(value)) yield [pointerText(path), value];
  else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      yield* sealedValues(item, [...path, Array.isArray(value) ? Number(key) : key]);
    }
  }
}

// Associated data: the value is bound to its case, event, place and subject.
const associatedData = (caseId, eventId, pointer, subject) =>
  Buffer.from(`casetrail/personal-data/v1\n${caseId}\n${eventId}\n${pointer}\n${subject}`, "utf8");

// The plaintext, or throws: base64(12-byte nonce || ciphertext || 16-byte tag), AES-256-GCM
// (or SM4-GCM, "SM4GCM", under the guomi suite).
function openValue(key, sealed, aad) {
  const wanted = sm !== null ? SM4_ALG : ALG;
  if (sealed.alg !== wanted) throw new Error(`unknown algorithm ${JSON.stringify(sealed.alg)}`);
  const raw = base64Bytes(sealed.ciphertext);
  if (raw === null || raw.length < NONCE_BYTES + TAG_BYTES) throw new Error("no ciphertext");
  if (sm !== null) return openSm4(key, raw, aad);
  const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, NONCE_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aad);
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  let plain;
  try {
    plain = Buffer.concat([
      decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    throw new Error("the tag does not match: wrong key, altered, or moved");
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(plain);
}

function openSm4(key, raw, aad) {
  let plain;
  try {
    plain = sm.sm4.decrypt(new Uint8Array(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), new Uint8Array(key), {
      mode: "gcm",
      padding: "none",
      iv: new Uint8Array(raw.subarray(0, NONCE_BYTES)),
      associatedData: new Uint8Array(aad),
      tag: new Uint8Array(raw.subarray(raw.length - TAG_BYTES)),
      output: "array",
    });
  } catch {
    throw new Error("the tag does not match: wrong key, altered, or moved");
  }
  return new TextDecoder("utf-8", { fatal: true }).decode(plain);
}

const keyFile = readJson(keysPath, "keys");
if (!isObject(keyFile)) fail(3, `${keysPath}: not an object of subjects and keys`);
const keys = new Map();
for (const [subject, text] of Object.entries(keyFile)) {
  if (text === null) continue; // destroyed: as if absent
  const key = base64Bytes(text);
  const length = sm !== null ? 16 : 32;
  if (key === null || key.length !== length) {
    fail(3, `${keysPath}: the key of subject ${subject} is not the base64 of ${length} bytes`);
  }
  keys.set(subject, key);
}

let opened = 0;
let failed = 0;
const erased = new Map(); // subject -> how many of its values stay sealed
for (const event of events) {
  for (const [pointer, sealed] of sealedValues(event.payload)) {
    const subject = sealed.subject;
    const place = `${event.case_id} v${event.version} ${JSON.stringify(pointer)} subject ${subject}`;
    const key = typeof subject === "string" ? keys.get(subject) : undefined;
    if (key === undefined) {
      erased.set(subject, (erased.get(subject) ?? 0) + 1);
      continue;
    }
    try {
      const aad = associatedData(event.case_id, event.event_id, pointer, subject);
      const plaintext = openValue(key, sealed, aad);
      console.log(`opened ${place}: ${JSON.stringify(plaintext)}`);
      opened += 1;
    } catch (error) {
      console.log(`does not open ${place}: ${error.message}`);
      failed += 1;
    }
  }
}
for (const [subject, count] of erased) {
  console.log(`erased subject ${subject}: no key (${count} sealed value${count === 1 ? "" : "s"})`);
}
const erasedValues = [...erased.values()].reduce((a, b) => a + b, 0);
console.log(`sealed values: ${opened} opened, ${erasedValues} erased, ${failed} do not open`);
process.exit(failed === 0 ? 0 : 2);
