import { AssertionError } from "chai";

/** The error `promise` rejects with; fails the test if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new AssertionError("expected the promise to reject, but it resolved");
}

/** The error `run` throws, which must be an instance of `type`; fails the test otherwise. */
export function thrownBy<E extends Error>(type: abstract new (...args: never[]) => E, run: () => unknown): E {
  try {
    run();
  } catch (error) {
    if (error instanceof type) return error;
    throw new AssertionError(`expected a ${type.name}, got ${String(error)}`);
  }
  throw new AssertionError(`expected a ${type.name}, but nothing was thrown`);
}
