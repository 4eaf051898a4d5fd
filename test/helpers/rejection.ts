// The error a promise rejects with, checked to be of the expected class; a test fails if it resolves.
import { expect } from 'vitest';

export async function rejectionOf<E extends Error>(p: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error(`expected a ${type.name}; it succeeded`);
}
