// A XenAPI failure: code plus parameters, exactly as they go on the wire in ErrorDescription.

export class ApiError extends Error {
  readonly code: string;
  readonly params: string[];
  constructor(code: string, params: string[] = []) {
    super(`${code}${params.length ? ` [${params.join(', ')}]` : ''}`);
    this.name = 'ApiError';
    this.code = code;
    this.params = params;
  }

  get description(): string[] {
    return [this.code, ...this.params];
  }
}

export function toDescription(err: unknown): string[] {
  if (err instanceof ApiError) return err.description;
  return ['INTERNAL_ERROR', err instanceof Error ? err.message : String(err)];
}
