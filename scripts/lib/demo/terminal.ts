/**
 * Output with one live status line: on a terminal the line is rewritten in place (`\r`); elsewhere (CI, a pipe) a
 * status line is printed every `everyMs` instead, so logs stay readable.
 */
export class Terminal {
  private current = "";
  private lastPrinted = 0;
  private readonly tty: boolean;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly everyMs = 5000,
  ) {
    this.tty = out.isTTY === true;
  }

  /** A normal line (the status line, if any, is cleared first and drawn again after it). */
  say(text = ""): void {
    if (this.tty && this.current) this.out.write("\r\x1b[2K");
    this.out.write(text + "\n");
    if (this.tty && this.current) this.out.write(this.fit(this.current));
  }

  /** Updates the status line. */
  status(text: string, now = Date.now()): void {
    if (this.tty) {
      this.current = text;
      this.out.write("\r\x1b[2K" + this.fit(text));
    } else if (now - this.lastPrinted >= this.everyMs) {
      this.lastPrinted = now;
      this.out.write(text + "\n");
    }
  }

  /** Leaves the status line on screen as a normal line; prints it once more elsewhere if asked. */
  endStatus(finalText?: string): void {
    if (this.tty) {
      if (finalText !== undefined) this.current = finalText;
      if (this.current) this.out.write("\r\x1b[2K" + this.current + "\n");
    } else if (finalText !== undefined) {
      this.out.write(finalText + "\n");
    }
    this.current = "";
    this.lastPrinted = 0;
  }

  /** A line that wraps cannot be rewritten with `\r`: cut it to the terminal's width. */
  private fit(text: string): string {
    const width = this.out.columns;
    return width && text.length >= width ? text.slice(0, width - 2) + "…" : text;
  }
}
