/**
 * LOBSTER replay fidelity: how much of the real day the imported workload reproduces when replayed.
 *
 * The import (workloads/lobster.ts) is replayed through a fresh reference engine, command by command, and scored
 * against the LOBSTER files themselves:
 * - executions: of the type-4 rows (visible executions), the share reproduced exactly: among the fills caused by the
 *   command that row became, one with the row's order id as maker and the row's size (each fill counts for one row);
 * - book: of the messages, the share after which the engine's top-N book (N = the orderbook file's level) equals
 *   LOBSTER's orderbook row, level by level (price and total size). null without an orderbook file.
 * The scorer sees only the command stream and the files; it shares no state with the importer's reconstruction model.
 */
import { ReferenceEngine } from '../engines/reference.ts';
import type { L2Snapshot, MatchEvent } from '../engines/types.ts';
import { TYPE_EXECUTE_VISIBLE, levelCount, levelPrice, levelSize } from './lobster-files.ts';
import type { LobsterOrderbook } from './lobster-files.ts';
import { importLobster } from './lobster.ts';
import type { LobsterImport, LobsterImportOptions } from './lobster.ts';

export interface Fidelity {
  readonly executions: { readonly matched: number; readonly total: number };
  readonly book: { readonly matched: number; readonly total: number } | null;
}

export async function measureFidelity(messagePath: string, options: LobsterImportOptions = {}): Promise<Fidelity> {
  return scoreReplay(await importLobster(messagePath, options));
}

/** Replays an import through the reference engine and scores it against the files it came from. */
export function scoreReplay(imported: LobsterImport): Fidelity {
  const { workload, replay } = imported;
  const { messages, orderbook, commandOf, commandsThrough } = replay;
  const sym = workload.symbols[0]!;
  const engine = new ReferenceEngine();
  /** Fills of each command, as maker id -> quantities not yet claimed by a row. */
  const fills = new Map<number, Array<{ maker: number; qty: number }>>();
  const emit = (event: MatchEvent): void => {
    if (event.ev !== 'fill') return;
    let list = fills.get(event.seq);
    if (list === undefined) fills.set(event.seq, (list = []));
    list.push({ maker: event.maker, qty: event.qty });
  };
  let processed = 0;
  let bookMatched = 0;
  for (let i = 0; i < messages.count; i++) {
    for (; processed < commandsThrough[i]!; processed++) engine.process(workload.command(processed), processed, emit);
    if (orderbook !== null && sameBook(engine.l2(sym, orderbook.levels), orderbook, i)) bookMatched++;
  }
  for (; processed < workload.count; processed++) engine.process(workload.command(processed), processed, emit);

  let executions = 0;
  let matched = 0;
  for (let i = 0; i < messages.count; i++) {
    if (messages.type[i] !== TYPE_EXECUTE_VISIBLE) continue;
    executions++;
    const list = fills.get(commandOf[i]!);
    const at = list?.findIndex((f) => f.maker === messages.id[i] && f.qty === messages.size[i]) ?? -1;
    if (at >= 0) {
      matched++;
      list!.splice(at, 1);
    }
  }
  return {
    executions: { matched, total: executions },
    book: orderbook === null ? null : { matched: bookMatched, total: messages.count },
  };
}

function sameBook(l2: L2Snapshot, book: LobsterOrderbook, row: number): boolean {
  return sameSide(l2.bids, book, row, 1) && sameSide(l2.asks, book, row, -1);
}

function sameSide(levels: L2Snapshot['bids'], book: LobsterOrderbook, row: number, dir: 1 | -1): boolean {
  const n = levelCount(book, row, dir);
  if (levels.length !== n) return false;
  for (let k = 0; k < n; k++) {
    const [price, size] = levels[k]!;
    if (price !== levelPrice(book, row, dir, k) || size !== levelSize(book, row, dir, k)) return false;
  }
  return true;
}
