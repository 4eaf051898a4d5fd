// Every failure the XenAPI client raises is a XenApiError: a code and the parameters exactly as
// sent. xapi's own codes pass through unchanged; the client's own conditions use XENAPI_* codes so
// they can never be mistaken for something xapi said. What a code means for a guest is not the
// client's business: the XenAPI backend (toolstack/xenapi.ts) translates them.

/** The client gave up waiting for an answer: [method, host, milliseconds]. */
export const CALL_TIMEOUT = 'XENAPI_CALL_TIMEOUT';
/** The toolstack could not be reached: [host, errno or reason]. */
export const UNREACHABLE = 'XENAPI_UNREACHABLE';
/** The answer was not what XenAPI sends: [method, detail]. */
export const BAD_RESPONSE = 'XENAPI_BAD_RESPONSE';
/** A task disappeared before it finished (toolstack restart, someone destroyed it): [task, method]. */
export const TASK_LOST = 'XENAPI_TASK_LOST';
/** The client was closed while the call was in flight: [method]. */
export const CLIENT_CLOSED = 'XENAPI_CLIENT_CLOSED';
/** A parameter we refuse to send because xapi would misread it: [method, detail]. */
export const BAD_PARAMETER = 'XENAPI_BAD_PARAMETER';

export class XenApiError extends Error {
  constructor(
    readonly code: string,
    readonly params: string[] = [],
    /** The XenAPI method whose call failed, when there was one. */
    readonly method?: string,
    message?: string,
    options?: { cause?: unknown },
  ) {
    super(message ?? describe(code, params, method), options);
    this.name = 'XenApiError';
  }
}

function describe(code: string, params: string[], method?: string): string {
  const head = params.length ? `${code} [${params.join(', ')}]` : code;
  return method ? `${method}: ${head}` : head;
}

/** A Failure envelope's ErrorDescription, checked: [CODE, p1, p2…] of strings. */
export function failureFromDescription(method: string, description: unknown): XenApiError {
  if (!Array.isArray(description) || description.length === 0 || typeof description[0] !== 'string') {
    return new XenApiError(BAD_RESPONSE, [method, `Failure without a [code, …] ErrorDescription: ${preview(description)}`], method);
  }
  const [code, ...rest] = description as unknown[];
  return new XenApiError(code as string, rest.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))), method);
}

/** Bad input from our side (config, arguments): the message is the explanation, for a person. */
export function badParameter(name: string, explanation: string): XenApiError {
  return new XenApiError(BAD_PARAMETER, [name, explanation], undefined, explanation);
}

export function isXenApiError(err: unknown, code?: string): err is XenApiError {
  return err instanceof XenApiError && (code === undefined || err.code === code);
}

/** A short, safe rendering of an unexpected value for an error message. */
export function preview(value: unknown): string {
  let text: string;
  try {
    text = value instanceof Date ? value.toISOString() : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
