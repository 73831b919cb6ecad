import { expect, it } from 'vitest';
import { jitteredWait, startSweepTimer } from '../../src/uploads/sweep-timer.js';
import { until } from '../helpers/wait.js';

it('each wait lies within ±jitter of the interval', () => {
  expect(jitteredWait(1_000, 0.2, 0)).toBe(800);
  expect(jitteredWait(1_000, 0.2, 0.5)).toBe(1_000);
  expect(jitteredWait(1_000, 0.2, 0.999)).toBeCloseTo(1_199.6);
});

it('a sweep that outlasts the interval is never overlapped by the next one, and stop() ends the rounds', async () => {
  let running = 0;
  let most = 0;
  let rounds = 0;
  const timer = startSweepTimer(async () => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 30)); // three intervals long
    running--;
    rounds++;
  }, 10);
  await until(() => rounds >= 4, 'four sweeps', 5_000);
  timer.stop();
  const stoppedAt = rounds;
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(most).toBe(1);
  // A sweep running at stop() may still finish; none starts after it.
  expect(rounds - stoppedAt).toBeLessThanOrEqual(1);
});

it('a failing sweep does not end the rounds', async () => {
  let calls = 0;
  const timer = startSweepTimer(() => {
    calls++;
    return Promise.reject(new Error('store unreachable'));
  }, 5);
  await until(() => calls >= 3, 'three attempts', 5_000);
  timer.stop();
  expect(calls).toBeGreaterThanOrEqual(3);
});
