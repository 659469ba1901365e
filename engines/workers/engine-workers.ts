/**
 * The engine worker threads a design starts, watched as a group: a worker that throws, or exits before the design
 * asked it to, is reported to every `onError` listener with the design and worker named; `stop` tells the workers to
 * leave (the design's own signal), waits for them and terminates any that do not within a grace period, so a wedged
 * worker can never hang the harness. Stopping twice signals once: a design's `close` is simply `workers.stop(...)`.
 */
import type { Worker, Transferable } from 'node:worker_threads';
import { startThread } from './start-thread.ts';
import { endThread } from './end-thread.ts';

export class EngineWorkers {
  readonly #design: string;
  readonly #workers: Worker[] = [];
  readonly #listeners: Array<(error: Error) => void> = [];
  readonly #errors: Error[] = [];
  #stopping = false;
  #stopped: Promise<void> | undefined;

  constructor(design: string) {
    this.#design = design;
  }

  /** Starts `entry` (a worker module URL) with `workerData`; `name` identifies it in errors. */
  spawn(name: string, entry: URL, workerData: unknown, transferList: readonly Transferable[] = []): Worker {
    const worker = startThread(entry, { workerData, transferList: [...transferList] });
    worker.on('error', (error) => this.#fail(new Error(`${this.#design} ${name}: ${error.stack ?? error.message}`)));
    worker.on('exit', (code) => {
      if (!this.#stopping) this.#fail(new Error(`${this.#design} ${name} exited (code ${code}) before the design was closed`));
    });
    this.#workers.push(worker);
    return worker;
  }

  onError(listener: (error: Error) => void): void {
    this.#listeners.push(listener);
    for (const error of this.#errors) listener(error);
  }

  /**
   * Marks exits from now on as expected, runs `tellWorkersToLeave`, waits up to a grace period for every worker, then
   * terminates the rest. Later calls return the first call's promise without signalling again.
   */
  stop(tellWorkersToLeave: () => void): Promise<void> {
    if (this.#stopped === undefined) {
      this.#stopping = true;
      tellWorkersToLeave();
      this.#stopped = this.#awaitExits();
    }
    return this.#stopped;
  }

  async #awaitExits(): Promise<void> {
    await Promise.all(this.#workers.map(endThread));
  }

  #fail(error: Error): void {
    this.#errors.push(error);
    for (const listener of this.#listeners) listener(error);
  }
}
