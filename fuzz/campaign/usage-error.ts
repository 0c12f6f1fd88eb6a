/**
 * Bad usage or bad input: the CLIs print `message` as one line on stderr and exit 2, never a
 * stack trace. Everything that can be the user's fault (options, files, directories) throws
 * this; anything else is a bug and keeps its stack.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message.replace(/\s*\n\s*/g, ' '));
    this.name = 'UsageError';
  }
}

/** Exit codes, everywhere: nothing found, a property was violated, bad usage or input. */
export const EXIT_OK = 0;
export const EXIT_VIOLATION = 1;
export const EXIT_USAGE = 2;
