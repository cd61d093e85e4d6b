// The one DER encoding of an SM2 signature (GB/T 35276: SEQUENCE of the INTEGERs r and s), as
// services/integrity/algorithms.py requires it: sm-crypto-v2 also accepts a trailing byte or a
// long-form length, and a second encoding of a signature must not verify anywhere.
const SM2_ORDER = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;

// Whether the bytes are the canonical DER of an (r, s) with 0 < r, s < n: short-form lengths
// only (a signature is at most 72 bytes), minimal non-negative integers, nothing after.
export function canonicalSm2Signature(bytes) {
  let at = 0;
  const length = () => (at < bytes.length && bytes[at] < 0x80 ? bytes[at++] : -1);
  const integer = () => {
    if (bytes[at++] !== 0x02) return null;
    const size = length();
    if (size < 1 || at + size > bytes.length) return null;
    const body = bytes.subarray(at, at + size);
    at += size;
    if (body[0] & 0x80) return null; // negative
    if (body[0] === 0 && (size === 1 || !(body[1] & 0x80))) return size === 1 ? 0n : null;
    return BigInt(`0x${Buffer.from(body).toString("hex")}`);
  };
  if (bytes[at++] !== 0x30 || length() !== bytes.length - 2) return false;
  const r = integer();
  const s = r === null ? null : integer();
  const inRange = (v) => v !== null && v > 0n && v < SM2_ORDER;
  return at === bytes.length && inRange(r) && inRange(s);
}
