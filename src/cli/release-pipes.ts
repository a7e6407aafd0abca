import { closeSync, constants, openSync, statSync } from 'node:fs';

/**
 * Opens, then closes, both ends of every named pipe among `paths`, without waiting. A command whose
 * open() of a named pipe waits for a process at the other end (an output no one reads, an input no
 * one writes) waits in a thread that no signal reaches and that the process's exit waits for too,
 * so a stop signal alone could not end it, nor a second one. Once an end is open the waiting
 * open() returns, the command sees its pipe closed at once (a write fails, a read ends) and stops
 * as it was asked to, removing its temporary files.
 * @example
 * releasePipes(['old.bin', '/run/out.fifo']);
 */
export function releasePipes(paths: readonly string[]): void {
  for (const path of paths) {
    let fifo = false;
    try {
      fifo = statSync(path).isFIFO();
    } catch {
      // not a path: an option or its value
    }
    if (!fifo) continue;
    // The read end first: a writer's non-blocking open needs a reader (ENXIO otherwise).
    for (const flags of [constants.O_RDONLY, constants.O_WRONLY]) {
      try {
        closeSync(openSync(path, flags | constants.O_NONBLOCK));
      } catch {
        // gone, or no reader for the write end: nothing waits on it then
      }
    }
  }
}
