/**
 * The shared-memory layout of a futex mutex (futex-mutex.ts), described once.
 *
 *   byte 0       4                                   128
 *        +-------+-----------------------------------+
 *        | state | padding (keeps the lock word's     |
 *        |       | cache lines to itself)             |
 *        +-------+-----------------------------------+
 *
 * state: MUTEX_UNLOCKED, MUTEX_LOCKED (no thread sleeps on it), MUTEX_CONTENDED (locked, and a thread may sleep in
 * Atomics.wait on it). A zero-filled region is an unlocked mutex.
 */
import { CACHE_LINE_PAIR } from './layout.ts';

/** Int32 index of the state word. */
export const MUTEX_STATE = 0;
export const FUTEX_MUTEX_BYTES = CACHE_LINE_PAIR;

export const MUTEX_UNLOCKED = 0;
export const MUTEX_LOCKED = 1;
export const MUTEX_CONTENDED = 2;
