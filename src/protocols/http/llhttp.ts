// Node's own llhttp binding (the parser node:http runs, strict unless told to be lenient), typed once for
// the two raw HTTP/1 engines: h1-server.ts (clients) and h1-client.ts (upstreams). It is not in @types/node.
import { createRequire } from "node:module";

export interface ParserInstance {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  [k: number]: unknown;
}

interface ParserCtor {
  new (): ParserInstance;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kLenientNone: number;
}

const common = createRequire(import.meta.url)("_http_common") as { HTTPParser: ParserCtor; methods: readonly string[] };

export const HTTPParser = common.HTTPParser;
/** Method names by llhttp's method number (what kOnHeadersComplete passes for requests). */
export const METHODS: readonly string[] = common.methods;
export const kOnHeaders = HTTPParser.kOnHeaders | 0;
export const kOnHeadersComplete = HTTPParser.kOnHeadersComplete | 0;
export const kOnBody = HTTPParser.kOnBody | 0;
export const kOnMessageComplete = HTTPParser.kOnMessageComplete | 0;
