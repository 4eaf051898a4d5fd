// Deterministic identifiers: with the same --seed and the same calls, every uuid and ref is the same.

export type Random = () => number;

/** mulberry32: small, fast, good enough for reproducible test data. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeUuidSource(random: Random): () => string {
  return () => {
    let hex = '';
    for (let i = 0; i < 32; i++) hex += Math.floor(random() * 16).toString(16);
    // RFC 4122 version 4 layout, so clients that validate uuids accept them.
    hex = hex.slice(0, 12) + '4' + hex.slice(13, 16) + ((parseInt(hex[16]!, 16) & 3) | 8).toString(16) + hex.slice(17);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
