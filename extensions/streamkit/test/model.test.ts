import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const calls: string[] = [];
let failing = false;

vi.mock('../src/api', () => ({
  requestAPI: async (path: string) => {
    calls.push(path);
    if (failing) {
      throw new Error('The Jupyter server did not answer');
    }
    if (path === 'connection') {
      return { connected: true, address: '127.0.0.1:9092', profile: 'local' };
    }
    if (path === 'services') {
      return {
        services: [],
        ended: [
          { name: 'gone', how: 'crashed (SIGSEGV)', ended_at: 1, log: 'l', log_tail: 'x' }
        ]
      };
    }
    if (path === 'topics') {
      return { topics: [{ name: 't', partitions: 1, messages: calls.length, rate: 1 }] };
    }
    if (path.endsWith('/stop')) {
      return { stopped: path };
    }
    throw new Error(`unexpected ${path}`);
  }
}));

import { StreamsModel } from '../src/model';

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

describe('StreamsModel', () => {
  let model: StreamsModel;
  beforeEach(() => {
    calls.length = 0;
    failing = false;
    model = new StreamsModel({ interval: 40 });
  });
  afterEach(() => model.dispose());

  it('fetches nothing while no view is visible', async () => {
    await sleep(200);
    expect(calls).toEqual([]);
    expect(model.snapshot).toBeNull();
  });

  it('polls while a view is visible, and stops when none is', async () => {
    const seen: number[] = [];
    model.changed.connect((_, snap) => seen.push(snap.topics[0].messages));
    model.setDemand('panel', true);
    await sleep(300);
    const fetches = calls.filter(c => c === 'connection').length;
    expect(fetches).toBeGreaterThanOrEqual(3);
    expect(model.snapshot?.connection.address).toBe('127.0.0.1:9092');
    expect(model.snapshot?.ended.map(e => e.how)).toEqual(['crashed (SIGSEGV)']);
    expect(seen.length).toBe(fetches);

    model.setDemand('panel', false);
    await sleep(100); // a tick already scheduled may still run
    const stopped = calls.length;
    await sleep(300);
    expect(calls.length).toBe(stopped);
  });

  it('keeps polling while any of several views is visible', async () => {
    model.setDemand('panel', true);
    model.setDemand('badges', true);
    model.setDemand('panel', false);
    await sleep(200);
    const before = calls.length;
    await sleep(200);
    expect(calls.length).toBeGreaterThan(before);
  });

  it('keeps the last data and says why an update failed', async () => {
    model.setDemand('panel', true);
    await sleep(100);
    expect(model.snapshot?.topics).toHaveLength(1);
    failing = true;
    await sleep(150);
    expect(model.snapshot?.error).toContain('did not answer');
    expect(model.snapshot?.topics).toHaveLength(1);
    expect(model.snapshot?.connection.connected).toBe(true);
  });

  it('refreshes after stopping a service', async () => {
    await model.stopService('svc a');
    expect(calls[0]).toBe('services/svc%20a/stop');
    expect(calls).toContain('connection');
  });
});
