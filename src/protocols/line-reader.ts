// Bounded line reader for the mail protocols: lines end at LF (a CR before it is stripped), a line
// longer than the limit is reported once and then dropped up to its LF, and exact byte counts can be
// taken for IMAP literals. Nothing grows past limit + one socket chunk (RFC 5321 4.5.3.1 sizes,
// RFC 7162 section 4 for IMAP's 8192).

/** One unit read from the buffer. `crlf` is false for a line ended by a bare LF. */
export type LineRead =
  | { readonly kind: "line"; readonly line: Buffer; readonly crlf: boolean }
  | { readonly kind: "too-long" };

const EMPTY = Buffer.alloc(0);
const TOO_LONG: LineRead = { kind: "too-long" };

export class LineReader {
  /** Longest accepted line in bytes, counting its CRLF. */
  limit: number;
  #buf: Buffer = EMPTY;
  /** Bytes at the start of #buf already known to hold no LF. */
  #scanned = 0;
  /** An over-long line was reported: drop bytes up to and including its LF. */
  #discarding = false;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now (never more than limit plus the last chunk pushed). */
  get buffered(): number { return this.#buf.length; }

  /** True while the rest of an over-long line is being dropped. */
  get discarding(): boolean { return this.#discarding; }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#discarding) {
      const lf = chunk.indexOf(0x0a);
      if (lf < 0) return;
      this.#discarding = false;
      chunk = chunk.subarray(lf + 1);
      if (chunk.length === 0) return;
    }
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
  }

  /**
   * The next complete line (without its line end), "too-long" once for a line over the limit, or
   * null when no complete line is buffered yet. After "too-long" the rest of that line is skipped.
   */
  nextLine(): LineRead | null {
    const buf = this.#buf;
    const lf = buf.indexOf(0x0a, this.#scanned);
    if (lf < 0) {
      if (buf.length >= this.limit) {
        // no LF within the limit: report now, drop what is held and what follows up to the LF
        this.#buf = EMPTY;
        this.#scanned = 0;
        this.#discarding = true;
        return TOO_LONG;
      }
      this.#scanned = buf.length;
      return null;
    }
    this.#buf = lf + 1 === buf.length ? EMPTY : buf.subarray(lf + 1);
    this.#scanned = 0;
    if (lf + 1 > this.limit) return TOO_LONG;
    const crlf = lf > 0 && buf[lf - 1] === 0x0d;
    return { kind: "line", line: buf.subarray(0, crlf ? lf - 1 : lf), crlf };
  }

  /** Exactly n bytes (an IMAP literal), or null until that many are buffered. n must be <= limit. */
  nextBytes(n: number): Buffer | null {
    if (this.#buf.length < n) return null;
    const out = this.#buf.subarray(0, n);
    this.#buf = n === this.#buf.length ? EMPTY : this.#buf.subarray(n);
    this.#scanned = 0;
    return out;
  }

  /** Everything buffered (for the hand-over to a relay); the reader is empty afterwards. */
  take(): Buffer {
    const out = this.#buf;
    this.#buf = EMPTY;
    this.#scanned = 0;
    this.#discarding = false;
    return out;
  }

  /** Drop everything buffered (STARTTLS: RFC 3207 section 4.2, CVE-2011-0411). */
  clear(): void {
    this.#buf = EMPTY;
    this.#scanned = 0;
    this.#discarding = false;
  }
}
