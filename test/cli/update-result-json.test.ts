import { describe, expect, it } from 'vitest';
import { updateErrorJson, updateResultJson } from '../../src/cli/update-result-json.js';
import { RolldeltaError } from '../../src/core/errors.js';
import { FallbackPullError } from '../../src/docker/fallback-pull-error.js';

const parse = (line: string) => {
  expect(line.endsWith('\n') && !line.slice(0, -1).includes('\n')).toBe(true);
  return JSON.parse(line);
};

describe('rolldelta update --json lines', () => {
  it('a result: the fields that apply, in a fixed order', () => {
    expect(updateResultJson('app:2', { action: 'pull', imageId: 'sha256:ab', reason: 'no basis', deltaBytes: undefined }, 1.5)).toBe('{"to":"app:2","action":"pull","imageId":"sha256:ab","reason":"no basis","seconds":1.5}\n');
  });

  it('an error: its code only when it has one; a fallback pull failure carries both failures', () => {
    expect(parse(updateErrorJson('app:2', new Error('odd')))).toEqual({ to: 'app:2', error: { message: 'odd' } });
    expect(parse(updateErrorJson('app:2', 'thrown string'))).toEqual({ to: 'app:2', error: { message: 'thrown string' } });
    const e = new FallbackPullError('app:2', new RolldeltaError('ERR_TIMEOUT', 'slow'), new Error('registry down'));
    expect(parse(updateErrorJson('app:2', e))).toEqual({
      to: 'app:2',
      error: { code: 'ERR_REMOTE', message: e.message },
      deltaError: { code: 'ERR_TIMEOUT', message: 'slow' },
      pullError: { message: 'registry down' },
    });
  });
});
