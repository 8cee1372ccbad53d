/**
 * The doorbells an agent thread shares with the host: an `Int32Array` on a SharedArrayBuffer.
 * Messages still travel on MessagePorts (structured clone keeps them typed and ordered); a bell
 * only says that one was posted, so a side that is spinning can take it off the port at once
 * with `receiveMessageOnPort` instead of waiting for an event-loop turn.
 */
export const Bell = Object.freeze({
  /** Bumped by the host after each command it posts. */
  CMD: 0,
  /** Bumped by the thread after each result or event batch it posts. */
  RESULT: 1,
  /** The slot whose guest code is running now (0: none): who to blame when the thread dies. */
  RUNNING: 2,
  /** Cells in the array. */
  LENGTH: 4,
});

/**
 * How long a thread waits for the next command after a run before it returns to its event
 * loop (a host that has the reply takes an event-loop turn, tens of microseconds, to send the
 * next one); it spins for the first {@link SPIN_FIRST_MS} and sleeps on the bell after.
 */
export const LINGER_MS = 2;

/**
 * The part of {@link LINGER_MS} a thread spins before it sleeps on the bell: after a run, and
 * (longer) after making or closing an instance, which come in bursts (a host loading or
 * unloading many agents). A sleeping thread takes 30–70 µs to wake on these machines.
 */
export const SPIN_FIRST_MS = 0.02;
export const SPIN_AFTER_START_MS = 0.2;

/** How long the host spins for the reply to a run on an idle thread before it awaits it. */
export const SPIN_MS = 0.05;
