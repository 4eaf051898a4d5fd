// The xenstore wire format (xen/include/public/io/xs_wire.h, docs/misc/xenstore.txt): every message
// is a 16-byte header of four little-endian u32 (type, req_id, tx_id, len) followed by `len` bytes
// of payload, at most 4096. Strings in a payload are NUL-terminated, except a written value and a
// read reply, which are raw bytes.

export const HEADER_SIZE = 16;
export const PAYLOAD_MAX = 4096;

export const MessageType = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
} as const;
export type MessageTypeName = keyof typeof MessageType;

const NAMES = new Map<number, MessageTypeName>(
  Object.entries(MessageType).map(([name, n]) => [n, name as MessageTypeName]),
);

export function messageTypeName(type: number): string {
  return NAMES.get(type) ?? `type ${type}`;
}

export interface Message {
  type: number;
  reqId: number;
  txId: number;
  payload: Buffer;
}

export function encodeMessage(msg: Message): Buffer {
  if (msg.payload.length > PAYLOAD_MAX) {
    throw new RangeError(`xenstore ${messageTypeName(msg.type)} payload is ${msg.payload.length} bytes; at most ${PAYLOAD_MAX} allowed`);
  }
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32LE(msg.type, 0);
  header.writeUInt32LE(msg.reqId >>> 0, 4);
  header.writeUInt32LE(msg.txId >>> 0, 8);
  header.writeUInt32LE(msg.payload.length, 12);
  return Buffer.concat([header, msg.payload]);
}

/**
 * Splits a byte stream into messages. Feed it whatever the socket delivers; it returns the complete
 * messages and keeps the rest. A header announcing more than PAYLOAD_MAX bytes means the stream is
 * out of step, which no later byte can repair: it throws.
 */
export function createDecoder(): (chunk: Buffer) => Message[] {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    const out: Message[] = [];
    while (pending.length >= HEADER_SIZE) {
      const len = pending.readUInt32LE(12);
      if (len > PAYLOAD_MAX) {
        throw new RangeError(`xenstore message announces ${len} payload bytes; at most ${PAYLOAD_MAX} allowed (stream out of step)`);
      }
      if (pending.length < HEADER_SIZE + len) break;
      out.push({
        type: pending.readUInt32LE(0),
        reqId: pending.readUInt32LE(4),
        txId: pending.readUInt32LE(8),
        payload: Buffer.from(pending.subarray(HEADER_SIZE, HEADER_SIZE + len)),
      });
      pending = pending.subarray(HEADER_SIZE + len);
    }
    return out;
  };
}

/** Each string NUL-terminated, concatenated (the `<a>|<b>|` of xenstore.txt). */
export function nulTerminated(...parts: string[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(`${p}\0`, 'utf8')));
}

/** The NUL-separated strings of a payload; a trailing NUL does not make an empty last element. */
export function splitNul(payload: Buffer): string[] {
  if (payload.length === 0) return [];
  const text = payload.toString('utf8');
  const parts = text.split('\0');
  if (text.endsWith('\0')) parts.pop();
  return parts;
}
