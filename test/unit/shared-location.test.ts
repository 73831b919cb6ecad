import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { describeSharedLocation, sharedStoreLocations } from '../../src/stores/shared-location.js';

const endpoints = (...list: unknown[]) => resolveConfig({ endpoints: list }).endpoints;

describe('store locations that leave out URL params', () => {
  it('a disk directory or S3 prefix without a param of the path is reported, naming the endpoint and the params', () => {
    const found = sharedStoreLocations(
      endpoints(
        { path: '/users/{username}/uploads', store: { type: 'disk', directory: './data' } },
        { path: '/orgs/{org}/{user}', store: { type: 's3', bucket: 'b', prefix: '{org}/' } },
        { path: '/files', store: { type: 'disk', directory: './files' } },
        { path: '/mine/{username}', store: { type: 'disk', directory: './mine/{username}' } },
      ),
    );
    expect(found).toEqual([
      { endpoint: '/users/{username}/uploads', key: 'store.directory', location: './data', params: ['username'] },
      { endpoint: '/orgs/{org}/{user}', key: 'store.prefix', location: '{org}/', params: ['user'] },
    ]);
    expect(describeSharedLocation(found[1]!)).toBe(
      'endpoint /orgs/{org}/{user}: store.prefix "{org}/" does not use {user}, so uploads for every value of {user} share it; put {user} into it, or set store.sharedAcrossParams: true if that is meant',
    );
  });

  it('sharedAcrossParams: true (disk or S3) says it is meant', () => {
    expect(
      sharedStoreLocations(
        endpoints(
          { path: '/users/{username}/uploads', store: { type: 'disk', directory: './data', sharedAcrossParams: true } },
          { path: '/p/{project}', store: { type: 's3', bucket: 'b', sharedAcrossParams: true } },
        ),
      ),
    ).toEqual([]);
  });

  it('sharedAcrossParams must be a boolean', () => {
    expect(() => endpoints({ path: '/u/{u}', store: { type: 'disk', directory: './d', sharedAcrossParams: 'yes' } })).toThrow(/store\.sharedAcrossParams/);
  });
});
