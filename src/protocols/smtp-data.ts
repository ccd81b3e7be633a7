// SMTP DATA filter against SMTP smuggling (SEC Consult 2023, CVE-2023-51764/5/6): the message
// travels to the server as the client sent it, except that every line end becomes CRLF, so the
// server can never see an end-of-data the proxy did not see. Only CRLF "." CRLF ends the data
// (RFC 5321 4.1.1.4). A bare LF or bare CR becomes CRLF, and a "." that follows such a normalised
// line end, or a "." line the normalisation would turn into ".\r\n", gets a second "." (dot-stuffing,
// RFC 5321 4.5.2) so that `\n.\r\n`, `\n.\n`, `\r\n.\n`, `\r.\r\n` stay message text.
// Streaming: state is a few bytes; nothing is buffered beyond the chunk in hand.

const MID = 0;      // inside a line
const HARD = 1;     // after a real CRLF (or at the start of the data)
const SOFT = 2;     // after a line end this filter made (bare LF / bare CR)
const CR = 3;       // a CR was seen, not yet written (LF may follow)
const DOT = 4;      // "." at a HARD line start, not yet written
const DOT_CR = 5;   // "." CR at a HARD line start, not yet written

const B_CRLF = Buffer.from("\r\n");
const B_DOTDOT = Buffer.from("..");
const B_DOTDOT_CRLF = Buffer.from("..\r\n");
const B_DOT = Buffer.from(".");
const B_END = Buffer.from(".\r\n");
const EMPTY = Buffer.alloc(0);

/** What one chunk of DATA came to: bytes for the server, and whether end-of-data was reached. */
export interface DataChunk {
  /** Bytes to send to the server, in order (the end-of-data line included when done). */
  readonly out: Buffer[];
  /** The end-of-data line was seen. */
  readonly done: boolean;
  /** Bytes after the end-of-data line (the next commands); empty unless done. */
  readonly rest: Buffer;
}

export class DataFilter {
  #state = HARD;

  /** Start of a new DATA section. */
  reset(): void {
    this.#state = HARD;
  }

  /** Filters one chunk of client bytes in DATA. */
  feed(b: Buffer): DataChunk {
    const out: Buffer[] = [];
    const n = b.length;
    let run = 0;  // start of bytes copied unchanged, up to i
    let i = 0;
    let st = this.#state;
    while (i < n) {
      const x = b[i];
      switch (st) {
        case MID: {
          // fast path: ordinary bytes and CRLF pairs stay in the unchanged run
          let c = 0;
          while (i < n && (c = b[i]) !== 0x0d && c !== 0x0a) i++;
          if (i >= n) break;
          if (c === 0x0d && i + 1 < n && b[i + 1] === 0x0a) { i += 2; st = HARD; break; }
          if (i > run) out.push(b.subarray(run, i));
          if (c === 0x0d) {
            st = CR;                  // CR at the chunk's end, or a bare CR
          } else {
            out.push(B_CRLF);         // bare LF
            st = SOFT;
          }
          i++;
          run = i;
          break;
        }
        case HARD:
        case SOFT:
          if (x === 0x2e) {
            if (i > run) out.push(b.subarray(run, i));
            if (st === SOFT) { out.push(B_DOTDOT); st = MID; } else { st = DOT; }
            i++;
            run = i;
          } else if (x === 0x0d) {
            if (i + 1 < n && b[i + 1] === 0x0a) { i += 2; st = HARD; break; }  // an empty line
            if (i > run) out.push(b.subarray(run, i));
            st = CR;
            i++;
            run = i;
          } else if (x === 0x0a) {
            if (i > run) out.push(b.subarray(run, i));
            out.push(B_CRLF);
            st = SOFT;
            i++;
            run = i;
          } else {
            st = MID;   // this byte starts the run
          }
          break;
        case CR:
          if (x === 0x0a) {
            out.push(B_CRLF);
            st = HARD;
            i++;
            run = i;
          } else {
            out.push(B_CRLF);   // bare CR: a line end of ours; x is looked at again from there
            st = SOFT;
            run = i;
          }
          break;
        case DOT:
          if (x === 0x0d) {
            st = DOT_CR;
            i++;
            run = i;
          } else if (x === 0x0a) {
            out.push(B_DOTDOT_CRLF);  // ".\n" would become ".\r\n" at the server: stuff it
            st = SOFT;
            i++;
            run = i;
          } else {
            out.push(B_DOT);          // a dot-stuffed line: passed on as sent
            st = MID;
            run = i;
          }
          break;
        case DOT_CR:
          if (x === 0x0a) {
            out.push(B_END);
            this.#state = HARD;
            const rest = i + 1 < n ? b.subarray(i + 1) : EMPTY;
            return { out, done: true, rest };
          }
          out.push(B_DOTDOT_CRLF);    // "." bare CR: stuffed, then x from a line start of ours
          st = SOFT;
          run = i;
          break;
        default:
          break;
      }
    }
    if (st === MID && n > run) out.push(b.subarray(run, n));
    else if ((st === HARD || st === SOFT) && n > run) out.push(b.subarray(run, n));
    this.#state = st;
    return { out, done: false, rest: EMPTY };
  }
}
