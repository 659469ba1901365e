/**
 * Entry of the journaller thread (journal/journaller.ts does the work; journal/journaller-thread.ts starts this).
 * Loops: one pass over the logs; when a pass found nothing, sleeps until the sequencer signals a new command (one
 * log: on its count word, whose sleeper count makes the sequencer notify) or briefly (several logs), never past the
 * moment a pending group frame is due. On the stop word it drains what is left, closes the journal and reports.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SEQUENCE_COUNT_WORD } from '../engines/sequence-log.ts';
import { SLEEPERS_WORD } from '../engines/shared/wait-strategy.ts';
import { Journaller, type JournallerInputs } from './journaller.ts';
import { CONTROL_STOP, type JournallerMessage } from './journaller-thread.ts';

/** Longest sleep between passes, ms: bounds how late the stop word is seen. */
const MAX_SLEEP_MS = 1;
/** With several logs nobody notifies this thread; it looks again after this long, ms. */
const POLL_MS = 0.05;

const port = parentPort;
if (port === null) throw new Error('journal/journaller-worker.ts must run as a worker thread');
const task = workerData as JournallerInputs & { readonly control: SharedArrayBuffer };
const control = new Int32Array(task.control);
const journaller = new Journaller(task);
port.postMessage({ type: 'ready' } satisfies JournallerMessage);

const logs = journaller.logs;
for (;;) {
  const stopping = Atomics.load(control, CONTROL_STOP) !== 0;
  const took = journaller.pump();
  if (took > 0) continue;
  if (stopping) break;
  const dueMs = journaller.msUntilDue(performance.now());
  if (dueMs === 0) continue;
  if (logs.length === 1) {
    const header = logs[0]!.header;
    const seen = Atomics.load(header, SEQUENCE_COUNT_WORD);
    Atomics.add(header, SEQUENCE_COUNT_WORD + SLEEPERS_WORD, 1);
    Atomics.wait(header, SEQUENCE_COUNT_WORD, seen, Math.min(dueMs, MAX_SLEEP_MS));
    Atomics.sub(header, SEQUENCE_COUNT_WORD + SLEEPERS_WORD, 1);
  } else {
    Atomics.wait(control, CONTROL_STOP, 0, Math.min(dueMs, POLL_MS));
  }
}
const stats = journaller.finish();
port.postMessage({ type: 'done', stats } satisfies JournallerMessage, [stats.fsyncNs.buffer]);
