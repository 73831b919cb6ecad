import { expect } from 'vitest';
import { ConfigError, resolveConfig } from '../../src/config/load.js';

/** The problems `resolveConfig` reports for `input` (fails the test if it accepts it). */
export function problemsOf(input: unknown): string[] {
  try {
    resolveConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}
