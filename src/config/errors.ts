/** A configuration the user has to fix. The CLI prints `message` and exits 2, without a stack. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super(message);
  }
}

/** Environment variables with this prefix set any config key (`TUSPORT__SERVER__LOGLEVEL=debug`). */
export const ENV_PREFIX = 'TUSPORT__';
