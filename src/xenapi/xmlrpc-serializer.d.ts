// Types for the parts of the xmlrpc package we load directly (not part of its public typings): its
// request serializer and the base of custom value types. Imported statically, not through
// createRequire, so a bundler (the self-contained executable's `bun build --compile`) sees and
// embeds them — and nothing loads the package's client, server or sax.
declare module 'xmlrpc/lib/serializer.js' {
  export function serializeMethodCall(method: string, params: unknown[], encoding?: string): string;
}

declare module 'xmlrpc/lib/customtype.js' {
  class CustomType {
    constructor(raw: string);
    raw: string;
    tagName: string;
  }
  export default CustomType;
}
