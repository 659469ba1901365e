/**
 * The journal modes (`--journal none|async|group|sync`) and what each promises. One table, read by the journaller
 * (what to write and when to fsync), the producers (whether an acknowledgement waits for the disk) and the CLIs.
 *
 *   mode    written                               fsync                                 acknowledged when
 *   none    nothing                               -                                     matched (today's behaviour)
 *   async   every record, as the journaller       only at a clean close                 matched; a crash may lose
 *           finds it sequenced                                                          acknowledged commands
 *   group   in frames of up to N records          once a frame holds N records, or T µs matched and its frame is on
 *                                                 after its first record was found       disk (group commit)
 *   sync    one record per frame                  after every record                    matched and on disk: the
 *                                                                                       naive baseline
 *
 * Defaults for `group`, from `npm run bench:fsync` on the development VM (fsync of one 80-byte frame p50 253 µs,
 * p99 462 µs; of 4096 records p50 826 µs): N = 4096 bounds one fsync's cost to ~3× the smallest, and T = 100 µs,
 * well under one fsync, adds little to a lone command's wait while a busy engine fills frames during the previous
 * fsync anyway (the batching effect: the slower the disk, the bigger the next frame).
 */
export const JOURNAL_MODES = ['none', 'async', 'group', 'sync'] as const;
export type JournalMode = (typeof JOURNAL_MODES)[number];

export const DEFAULT_GROUP_COMMANDS = 4096;
export const DEFAULT_GROUP_WAIT_US = 100;

export interface JournalSettings {
  readonly mode: JournalMode;
  /** group: a frame is written and fsynced once it holds this many records. */
  readonly groupCommands: number;
  /** group: ... or once its first record has waited this long, µs. */
  readonly groupWaitUs: number;
}

export function parseJournalMode(text: string, where: string): JournalMode {
  if ((JOURNAL_MODES as readonly string[]).includes(text)) return text as JournalMode;
  throw new Error(`${where}: '${text}' is not a journal mode; expected one of ${JOURNAL_MODES.join(', ')}`);
}

/** True when a command is acknowledged only once the journal holds it on disk. */
export function acknowledgesDurable(mode: JournalMode): boolean {
  return mode === 'group' || mode === 'sync';
}
