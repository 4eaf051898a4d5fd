// Types for the xmlrpc package's own response deserializer (not part of its public typings). It is
// imported statically, not through createRequire, so a bundler (the self-contained executable's
// `bun build --compile`) sees it and embeds it.
declare module 'xmlrpc/lib/deserializer.js' {
  import type { Readable } from 'node:stream';
  class Deserializer {
    deserializeMethodResponse(stream: Readable, callback: (err: Error | null, value: unknown) => void): void;
  }
  export default Deserializer;
}
