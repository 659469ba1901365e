/**
 * The failure detector both ends of a replication connection share (server/standby.ts judges its primary,
 * server/replicator-worker.ts its standby): a peer is silent once nothing was heard from it for the timeout.
 *
 * Contract: `check()` is called from a timer; when `silent()` holds it defers the verdict to setImmediate, which
 * runs after the event loop's poll phase, and calls `onSilent()` only if `silent()` still holds then. Timers run
 * before the loop reads its sockets, so after a stall of this thread (a long fsync, a journal read, a snapshot
 * write, the scheduler) the peer's frames may be waiting unread: the silence would be this node's own. At most one
 * verdict is pending at a time.
 */
export function peerSilence(silent: () => boolean, onSilent: () => void): { check(): void } {
  let judging = false;
  return {
    check(): void {
      if (judging || !silent()) return;
      judging = true;
      setImmediate(() => {
        judging = false;
        if (silent()) onSilent();
      });
    },
  };
}
