/**
 * Progress of a comparison on stderr. On a terminal: one line redrawn in place — which run of how many, the
 * configuration, a bar of the current run's completed commands — and a permanent line per finished run. Not on a
 * terminal (CI logs, pipes): only the permanent lines, so logs stay readable.
 */

const BAR_WIDTH = 20;

export class Progress {
  readonly #tty: boolean;
  readonly #stream: NodeJS.WriteStream;
  #total = 0;
  #label = '';
  #index = 0;
  #drawn = false;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
  }

  begin(totalRuns: number): void {
    this.#total = totalRuns;
  }

  /** A run starts: `label` names its configuration and repetition. */
  run(index: number, label: string): void {
    this.#index = index;
    this.#label = label;
    this.update(0, 1);
  }

  /** Commands completed so far in the current run. */
  update(done: number, total: number): void {
    if (!this.#tty) return;
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
    const columns = this.#stream.columns ?? 120;
    const text = `[${this.#index + 1}/${this.#total}] ${(fraction * 100).toFixed(0).padStart(3)}% ${bar}  ${this.#label}`;
    this.#stream.write(`\r\x1b[2K${text.slice(0, columns - 1)}`);
    this.#drawn = true;
  }

  /** A permanent line (a finished run, a warning). */
  line(text: string): void {
    if (this.#drawn) this.#stream.write('\r\x1b[2K');
    this.#drawn = false;
    this.#stream.write(`${text}\n`);
  }

  end(): void {
    if (this.#drawn) this.#stream.write('\r\x1b[2K');
    this.#drawn = false;
  }
}
