import { describe, expect, it } from 'vitest';

import {
  ago,
  badgeFor,
  defaultExportDir,
  exportDirProblem,
  formatCount,
  formatRate,
  IServiceInfo,
  IStepStatus,
  isInternalTopic,
  lastLines,
  liveSteps,
  parseStreamCell,
  schemaDrift,
  shellSplit,
  uptime,
  visibleTopics
} from '../src/format';

function step(overrides: Partial<IStepStatus> = {}): IStepStatus {
  return {
    name: 'fast',
    kind: 'polars',
    input: 'telemetry',
    output: 'fast',
    guarantee: 'at-least-once',
    records_in: 1200,
    records_out: 900,
    dlq: 0,
    errors: 0,
    last_error: null,
    lag: 12,
    rate: 1530.4,
    state: 'running',
    ...overrides
  };
}

describe('formatCount', () => {
  it('keeps small counts whole and shortens large ones', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1000)).toBe('1.00k');
    expect(formatCount(12_345)).toBe('12.3k');
    expect(formatCount(123_456)).toBe('123k');
    expect(formatCount(4_560_000)).toBe('4.56M');
    expect(formatCount(2e9)).toBe('2.00G');
  });
  it('shows a dash for unknown values', () => {
    expect(formatCount(null)).toBe('–');
    expect(formatCount(undefined)).toBe('–');
    expect(formatCount(Number.NaN)).toBe('–');
  });
});

describe('formatRate', () => {
  it('tells unknown, idle, slow and fast apart', () => {
    expect(formatRate(null)).toBe('–');
    expect(formatRate(0)).toBe('0');
    expect(formatRate(0.25)).toBe('0.3');
    expect(formatRate(99.6)).toBe('100');
    expect(formatRate(15_300)).toBe('15.3k');
  });
});

describe('topics', () => {
  const topics = [
    { name: 'telemetry', partitions: 4, messages: 10, rate: 2 },
    { name: '__consumer_offsets', partitions: 1, messages: 3, rate: null },
    { name: 'changelog__app--fast--default', partitions: 1, messages: 3, rate: 0 },
    { name: 'alerts', partitions: 1, messages: 0, rate: 0 }
  ];
  it('hides internals and sorts by name', () => {
    expect(visibleTopics(topics).map(t => t.name)).toEqual(['alerts', 'telemetry']);
  });
  it('filters case-insensitively and can show internals', () => {
    expect(visibleTopics(topics, ' TELE').map(t => t.name)).toEqual(['telemetry']);
    expect(visibleTopics(topics, '', true)).toHaveLength(4);
  });
  it('knows internal names', () => {
    expect(isInternalTopic('repartition__x')).toBe(true);
    expect(isInternalTopic('telemetry.dlq')).toBe(false);
  });
});

describe('parseStreamCell', () => {
  it('reads a Polars step like the kernel', () => {
    expect(parseStreamCell('%%stream fast --input telemetry\ndf.head()')).toEqual({
      name: 'fast',
      helpers: false,
      input: 'telemetry',
      output: null,
      quix: false
    });
  });
  it('reads --quix, --output and --flag=value', () => {
    const cell = parseStreamCell(
      '\n  %%stream per_car --quix --input=fast --output "per car"\nsdf = sdf'
    );
    expect(cell).toMatchObject({ name: 'per_car', quix: true, input: 'fast', output: 'per car' });
  });
  it('knows helpers cells', () => {
    expect(parseStreamCell('%%stream helpers\ndef f(): pass')?.helpers).toBe(true);
  });
  it('ignores other cells', () => {
    expect(parseStreamCell('%stream peek telemetry')).toBeNull();
    expect(parseStreamCell('x = 1\n%%stream fast --input t')).toBeNull();
    expect(parseStreamCell('%%streaming x')).toBeNull();
    expect(parseStreamCell('%%stream')).toBeNull();
    expect(parseStreamCell('%%stream --input t')).toBeNull();
  });
});

describe('shellSplit', () => {
  it('handles quotes and escapes', () => {
    expect(shellSplit(`a "b c" 'd e' f\\ g`)).toEqual(['a', 'b c', 'd e', 'f g']);
    expect(shellSplit('  ')).toEqual([]);
    expect(shellSplit('""')).toEqual(['']);
  });
});

describe('badges', () => {
  const services: IServiceInfo[] = [
    { name: 'live', pid: 1, folder: '/x', started_at: 0, steps: [step(), step({ name: 'per_car', kind: 'quix' })] },
    { name: 'other', pid: 2, folder: '/y', started_at: 0, steps: [step({ rate: 1 })] }
  ];
  it('indexes live steps, first service wins', () => {
    const live = liveSteps(services);
    expect([...live.keys()]).toEqual(['fast', 'per_car']);
    expect(live.get('fast')?.service).toBe('live');
  });
  it('shows a live step with its rate and lag', () => {
    const badge = badgeFor(parseStreamCell('%%stream fast --input telemetry')!, liveSteps(services));
    expect(badge.state).toBe('live');
    expect(badge.text).toBe('fast ← telemetry · ● running · 1.53k msg/s · lag 12');
    expect(badge.title).toContain('service live (at-least-once)');
  });
  it('flags errors and DLQ records', () => {
    const bad = [{ ...services[0], steps: [step({ errors: 2, dlq: 3, last_error: 'boom' })] }];
    const badge = badgeFor(parseStreamCell('%%stream fast --input telemetry')!, liveSteps(bad));
    expect(badge.state).toBe('error');
    expect(badge.text).toContain('5 to DLQ/errors');
    expect(badge.title).toContain('Last error: boom');
  });
  it('says when a step is not running', () => {
    const badge = badgeFor(parseStreamCell('%%stream slow --input telemetry --quix')!, liveSteps(services));
    expect(badge.state).toBe('idle');
    expect(badge.text).toBe('slow ← telemetry');
    expect(badge.title).toContain('Quix step slow: not running live');
  });
  it('labels helpers', () => {
    expect(badgeFor(parseStreamCell('%%stream helpers')!, new Map()).state).toBe('helpers');
  });
});

describe('export folder', () => {
  it('defaults to <stem>-service beside the notebook', () => {
    expect(defaultExportDir('quickstart.ipynb')).toBe('quickstart-service');
    expect(defaultExportDir('notebooks/Race Telemetry.ipynb')).toBe('notebooks/Race-Telemetry-service');
  });
  it('refuses folders outside the root', () => {
    expect(exportDirProblem('svc')).toBeNull();
    expect(exportDirProblem('a/b-service')).toBeNull();
    expect(exportDirProblem('  ')).toContain('Give a folder');
    expect(exportDirProblem('/etc/x')).toContain('absolute');
    expect(exportDirProblem('C:\\x')).toContain('absolute');
    expect(exportDirProblem('../x')).toContain("remove the '..'");
  });
});

describe('times', () => {
  it('says how long ago', () => {
    expect(ago(10_000, 10_500)).toBe('just now');
    expect(ago(0, 12_000)).toBe('12 s ago');
    expect(ago(0, 180_000)).toBe('3 min ago');
  });
  it('says how long a service is up', () => {
    expect(uptime(100, 130_000)).toBe('30 s');
    expect(uptime(0, 600_000)).toBe('10 min');
    expect(uptime(0, 3_900_000)).toBe('1 h 5 min');
  });
});

describe('lastLines', () => {
  it('keeps the last non-empty lines of a log tail', () => {
    expect(lastLines('a\n\nb\nc\nd\n', 3)).toEqual(['b', 'c', 'd']);
    expect(lastLines('', 3)).toEqual([]);
    expect(lastLines('only', 3)).toEqual(['only']);
  });
});

describe('schemaDrift', () => {
  const base = {
    name: 's', kind: 'polars', input: 'a', output: 'b', guarantee: 'at-least-once',
    records_in: 0, records_out: 0, dlq: 0, errors: 0, last_error: null, lag: 0,
    rate: 0, state: 'running'
  };
  it('is empty without drift', () => {
    expect(schemaDrift(base)).toBe('');
  });
  it('counts added fields and conflicts', () => {
    expect(schemaDrift({ ...base, new_fields: ['drs', 'tyre.age'], conflicts: 3 })).toBe(
      '+2 fields \u00b7 3 conflicts'
    );
    expect(schemaDrift({ ...base, new_fields: ['drs'] })).toBe('+1 field');
  });
});
